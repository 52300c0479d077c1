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

# The same typed forms as templates, so that a table of records can hold one distinct number per form
# (`typed_as(form, "3073997990")`). A number in another country is typed in its international grouping (its
# national form reads as that country's only with the org's region set to it).
FORMS = (
    "({a}) {b}-{c}",
    "{a}.{b}.{c}",
    "+1 {a} {b} {c}",
    "1-{a}-{b}-{c}",
    "{a} {b} {c} ext. 12",
    "  {a}-{b}-{c}  ",
    "+1{a}{b}{c}",
    "{a}{b}{c}",
    "+1 ({a}) {b}-{c}",
)
FOREIGN = (("+44 20 7946 {c}", "+44207946{c}"),)  # (typed, E.164) with a 4-digit line


def typed_as(form: str, national: str) -> str:
    """A 10-digit US national number typed in `form`."""
    return form.format(a=national[:3], b=national[3:6], c=national[6:])
