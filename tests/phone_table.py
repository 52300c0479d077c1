"""The phone numbers the phone-search tests share: one number typed the ways people type it, and numbers that
share digits with it but are other lines."""

US_NUMBER = "+13073997990"
US_TYPED = (
    "(307) 399-7990",
    "307.399.7990",
    "+1 307 399 7990",
    "1-307-399-7990",
    "307 399 7990 ext. 12",
    "  307-399-7990  ",
    "+13073997990",
    "3073997990",
    "13073997990",
    "+1 (307) 399-7990",
)
US_OTHERS = ("(307) 399-7991", "407-399-7990", "+1 307 399 7909", "30739979901", "+44 307 399 7990", "399-7990")
