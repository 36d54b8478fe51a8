"""告知: notices to applicants, agents, complainants and raters, derived from the audit trail
(`derive`), with the catalogue of events and templates kept as data (`catalogue`), and the
SMS channel (`sms`, through the provider adapter `sms_provider`)."""
