"""Level 5, fulfilment: fee (收费), certificates (电子证照) and delivery (送达).
"""
