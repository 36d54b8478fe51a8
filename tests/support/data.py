"""The test data, in one place: people, organisations, the sample catalogue's items, the
construction-permit application and its materials."""

from __future__ import annotations

import copy
from typing import Any

# --- people and organisations ---------------------------------------------------------------

CITIZEN_ID = "11010519491231002X"  # the sample printed in GB 11643-1999
"""The applicant of most tests (a valid resident identity number)."""

OTHER_ID = "110101199003071233"  # Dongcheng, Beijing, born 1990-03-07
"""Another valid resident identity number: someone who is not the applicant."""

NEIGHBOUR_ID = "440106198501011237"
"""A third valid resident identity number (Tianhe, Guangzhou)."""

BAD_ID_NUMBER = "110101199003071234"  # the right check character is 3
"""`OTHER_ID` with a wrong check character."""

CREDIT_CODE = "91350100M000100Y43"
"""A valid unified social credit code (统一社会信用代码)."""

COMPANY = "91440101MA5CXY8Q03"
"""A certificate holder's credit code (the API's certificate tests)."""

RESTAURANT = "91440106MA59B1234B"  # 广州市天河区粤味餐饮有限公司
"""The food business the domain's certificate tests license."""

PHONE = "13800138000"
"""A mobile number (private content in complaints, a contact in forms)."""

# --- the sample catalogue (seeded by `make run` and the `seeded` fixture) --------------------

PLANNING_PERMIT = "11440100MB2D00127W-XK-0007"
"""建设工程规划许可证核发: a fee; 规划 (GZ-ZRZY) leads, 住建 and 消防 review; PICKUP or COURIER."""

PERMIT = PLANNING_PERMIT
"""The item most tests apply for (the construction permit)."""

FOOD_LICENCE = "11440100MB2C98765R-XK-0102"
"""食品经营许可证核发: LEGAL holders only, no fee, 市场监管局."""

RESIDENCE_ENDORSEMENT = "11440100007502346T-GG-0012"
"""An INSTANT item (即办件)."""

DRIVING_LICENCE = "11440100007502346T-XK-0245"
PROPERTY_CERTIFICATE = "11440100MB2D00127W-QR-0031"
DISABILITY_CARD = "13440100MB2D00590Y-QR-0008"
"""残疾人证核发: a 上报件 (ESCALATED) accepted at 街道/社区 windows, handled by the city's 残联
(GZ-CL, lead) and 卫健委 (GZ-WJ); no fee; PICKUP or COURIER."""

DEPARTMENTS = ["GZ-ZRZY", "GZ-ZJ", "GZ-XF"]
"""The departments that review the construction permit, the lead first."""

REQUIRED = ["application-form", "land-documents", "site-plan", "architectural-drawings",
            "fire-design"]
"""The construction permit's required materials."""

PDF = b"%PDF-1.7\n" + "建设工程设计方案总平面图".encode() * 1000
"""A small PDF-looking material (the site plan)."""


def permit_body(**changes: Any) -> dict[str, Any]:
    """The demo's construction-permit application (a fresh copy), with `changes` applied."""
    from infra.demo import APPLICATION

    body = copy.deepcopy(APPLICATION)
    body.update(changes)
    return body


def theme_case_body() -> dict[str, Any]:
    """One submission of the sample theme 开办餐饮店 (the demo's)."""
    from infra.demo_themes import THEME_CASE

    return copy.deepcopy(THEME_CASE)
