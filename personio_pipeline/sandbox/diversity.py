"""What makes the diverse profile's companies look like real HR data: the locales people come
from, how their names become e-mail local parts, the title catalogue's long tail, and the extra
attributes a connector that ignores `fields` serves.

Pure data and small pure functions; `generator.py` draws from them with its seeded RNG.
"""

from __future__ import annotations

import functools
import importlib
import re
import unicodedata

from faker import Faker
from faker.providers.person.ja_JP import Provider as JapaneseNames
from faker.providers.person.zh_CN import Provider as ChineseNames

# Share of each locale among the people not from the company's home locale. Latin scripts with
# diacritics, Cyrillic and Greek (transliterated for addresses), Japanese (kanji with their
# romanisation) and Chinese (romanised, as HR systems in Europe hold them).
LOCALE_WEIGHTS = {
    "de_DE": 14, "de_AT": 3, "de_CH": 3, "en_GB": 5, "en_US": 2, "en_IN": 3, "fr_FR": 6, "es_ES": 5,
    "pt_PT": 2, "pt_BR": 3, "it_IT": 5, "nl_NL": 3, "nl_BE": 2, "pl_PL": 6, "cs_CZ": 3, "sk_SK": 1,
    "hu_HU": 3, "ro_RO": 3, "hr_HR": 2, "sl_SI": 1, "tr_TR": 6, "el_GR": 2, "bg_BG": 1, "ru_RU": 2,
    "uk_UA": 3, "sv_SE": 2, "da_DK": 1, "no_NO": 1, "fi_FI": 1, "is_IS": 1, "lt_LT": 1, "lv_LV": 1,
    "et_EE": 1, "vi_VN": 2, "zh_CN": 2, "ja_JP": 1, "az_AZ": 1, "id_ID": 1,
}
HOME_LOCALES = {"de_DE": 10, "de_AT": 2, "de_CH": 2, "fr_FR": 1, "nl_NL": 1, "pl_PL": 1, "es_ES": 1, "it_IT": 1,
                "en_GB": 1}
HOME_LOCALE_SHARE = 0.45
COUNTRY = {locale: locale[-2:] for locale in LOCALE_WEIGHTS}
LANGUAGE = {locale: locale[:2].upper() for locale in LOCALE_WEIGHTS}
TIMEZONES = {"DE": "Europe/Berlin", "AT": "Europe/Vienna", "CH": "Europe/Zurich", "FR": "Europe/Paris",
             "ES": "Europe/Madrid", "PL": "Europe/Warsaw", "IT": "Europe/Rome", "NL": "Europe/Amsterdam",
             "GB": "Europe/London"}
CITIES = {"DE": ("Berlin", "München", "Köln", "Düsseldorf", "Nürnberg"), "AT": ("Wien", "Graz"),
          "CH": ("Zürich", "Genève"), "FR": ("Paris", "Lyon"), "ES": ("Madrid", "A Coruña"),
          "PL": ("Warszawa", "Łódź", "Kraków"), "IT": ("Milano", "Torino"), "NL": ("Amsterdam", "Den Haag"),
          "GB": ("London", "Manchester")}

# Transliteration for e-mail local parts (how IT departments in Europe usually spell them).
_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґ",
    ["a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "i", "ye", "yi", "g"],
))
_GREEK = dict(zip(
    "αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ",
    ["a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n", "x", "o", "p", "r", "s", "s", "t",
     "y", "f", "ch", "ps", "o", "a", "e", "i", "i", "o", "y", "o", "i", "y", "i", "y"],
))
_TRANSLITERATION = str.maketrans({**_CYRILLIC, **_GREEK})
_NOT_DECOMPOSABLE = str.maketrans(
    {"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "þ": "th", "ð": "d", "ə": "e", "Ə": "E"}
)
_GERMAN_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})

# Title long tail: seniority, specialisation and regional forms of each department's titles.
SENIORITY = (("", 50), ("Junior ", 10), ("Senior ", 14), ("Lead ", 4), ("Principal ", 2), ("Associate ", 3),
             ("Werkstudent ", 3), ("Trainee ", 2), ("Praktikant ", 2), ("Sr. ", 2), ("Jr. ", 1))
SPECIALISATIONS: dict[str, tuple[str, ...]] = {
    "Engineering": ("Backend", "Frontend", "Mobile", "iOS", "Android", "Platform", "Payments", "Java", "Python",
                    "Go", "Kotlin", "Cloud", "Embedded", "Test Automation", "Identity", "Search"),
    "Product": ("Growth", "Payments", "Mobile", "B2B", "Onboarding", "Data", "Platform", "Self-Service"),
    "Sales": ("DACH", "EMEA", "Enterprise", "Mid-Market", "SMB", "Public Sector", "Automotive", "Retail",
              "Healthcare", "Inbound", "Outbound"),
    "Marketing": ("SEO", "SEA", "Social Media", "Events", "Product Marketing", "CRM", "Brand", "Employer Branding"),
    "Customer Success": ("1st Level", "2nd Level", "Enterprise", "SMB", "Onboarding", "Renewals", "Französisch",
                         "Englisch", "Polnisch"),
    "Finance": ("Accounts Payable", "Accounts Receivable", "Tax", "Treasury", "FP&A", "Konzernrechnung", "Payroll"),
    "People & Culture": ("Tech", "Sales", "Operations", "Benefits", "Compensation", "Employer Branding",
                         "Active Sourcing"),
    "Operations": ("Facilities", "Fleet", "Einkauf", "Logistik", "Lager", "Travel", "Events"),
    "Data": ("BI", "Machine Learning", "Analytics", "Data Platform", "Marketing Analytics", "Product Analytics"),
    "IT": ("Client", "Network", "Cloud", "SAP", "Microsoft 365", "Identity & Access", "1st Level"),
    "Qualitätssicherung": ("Wareneingang", "Endkontrolle", "Messtechnik", "Lieferanten", "Labor", "Audit"),
    "Produktion": ("Montage", "CNC", "Schweißen", "Lackiererei", "Instandhaltung", "Verpackung", "Spritzguss",
                   "Elektrik", "Früh", "Spät", "Nacht"),
    "Legal": ("Arbeitsrecht", "IP", "Datenschutz", "Corporate", "Contracts", "Compliance"),
}
# Positions in several languages: regional departments often keep their local title.
LOCAL_TITLES = {
    "France": {"Software Engineer": "Ingénieur logiciel", "Account Executive": "Chargé d'affaires",
               "Accountant": "Comptable", "Recruiter": "Chargée de recrutement", "Data Analyst": "Analyste de données",
               "Office Manager": "Responsable des services généraux"},
    "Iberia": {"Software Engineer": "Ingeniero de software", "Account Executive": "Ejecutivo de cuentas",
               "Accountant": "Contable", "Support Specialist": "Especialista de atención al cliente",
               "Data Analyst": "Analista de datos"},
    "Polska": {"Software Engineer": "Inżynier oprogramowania", "Accountant": "Księgowa",
               "Produktionsmitarbeiter": "Pracownik produkcji", "Support Specialist": "Specjalista ds. obsługi klienta"},
    "Türkiye": {"Software Engineer": "Yazılım Mühendisi", "Accountant": "Muhasebe Uzmanı",
                "Produktionsmitarbeiter": "Üretim Operatörü", "Sales Engineer": "Satış Mühendisi"},
    "Italia": {"Software Engineer": "Ingegnere del software", "Accountant": "Contabile",
               "Account Executive": "Responsabile commerciale"},
    "Nordics": {"Software Engineer": "Systemutvecklare", "Accountant": "Redovisningsekonom"},
}
# Spellings of one title that a role matcher must still recognise (same words, other case or spacing).
TITLE_VARIANTS = (
    lambda title: title.lower().replace(" ", "  ", 1),
    lambda title: title + " ",
    lambda title: title.upper(),
    lambda title: "\t" + title,
    lambda title: title.replace(" ", "\u00a0", 1),
    lambda title: title.lower(),
    lambda title: f"  {title}",
)
GENDER_SUFFIXES = (" (m/w/d)", " (w/m/d)", " (m/f/d)", " (all genders)")

# Sub-brands and subsidiaries: regional domains, an internationalised (IDN) domain for one small
# department, and the pre-rebrand domain that still appears as a secondary address.
IDN_BRANDS = ("bäckerei-müller", "straßenbau-weiß", "åkesson-bygg", "żabka-logistyka", "çelik-yapı",
              "señor-café", "öko-energie", "grün-und-blüte", "čistý-vzduch", "mühlenwerk")
REGION_DOMAIN = {"France": "fr", "Iberia": "es", "Polska": "pl", "Türkiye": "tr", "UK & Ireland": "co-uk",
                 "Italia": "it", "Nordics": "se", "Benelux": "nl"}
ROLE_MAILBOXES = ("hr", "it-support", "buchhaltung", "info", "einkauf", "empfang", "payroll", "security")
PERSONAL_DOMAINS = ("mail.example.org", "post.example.net", "inbox.example.com", "gmx.example", "web.example",
                    "posteo.example", "t-online.example", "freenet.example", "outlook.example", "yandex.example",
                    "o2.example", "wp.example")
ADDRESS_STYLES = (("{first}.{last}", 70), ("{f}.{last}", 12), ("{first}{last}", 6), ("{last}.{first}", 4),
                  ("{first}_{last}", 4), ("{f}{last}", 4))
EMPLOYMENT_TYPES = (("employee", 88), ("contractor", 3), ("freelance", 2), ("temp", 2), ("internship", 5))
COST_CENTRES = tuple(f"{number}" for number in range(4100, 4190, 7))


def weighted(pairs) -> list:
    """Each item repeated by its weight, for `_any`-style draws."""
    return [item for item, weight in pairs for _ in range(weight)]


@functools.lru_cache(maxsize=65536)
def address_name(name: str, spelling: str) -> str:
    """A name as it appears in a local part: lowercase, spaces as hyphens, apostrophes kept (atext).
    `spelling`: "unicode" keeps non-ASCII letters (`zoë`); "ascii" transliterates (`zoe`, `иван` →
    `ivan`); "ascii-ae" also writes German umlauts out (`müller` → `mueller`), as many IT
    departments do."""
    text = unicodedata.normalize("NFC", name).lower().replace(" ", "-")
    if spelling == "unicode":
        return re.sub(r"[^\w'-]", "", text).strip("-'_")
    if spelling == "ascii-ae":
        text = text.translate(_GERMAN_UMLAUTS)
    text = text.translate(_TRANSLITERATION).translate(_NOT_DECOMPOSABLE)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9'-]", "", text).strip("-'")


_NON_LATIN = frozenset(_CYRILLIC) | frozenset(_GREEK)


def non_latin(name: str) -> bool:
    """Cyrillic or Greek letters: few companies hand out such local parts."""
    return any(letter in _NON_LATIN for letter in name.lower())


@functools.lru_cache(maxsize=65536)
def ascii_local_part(local: str) -> str:
    """A local part spelt in ASCII (for personal and alias addresses people set up themselves)."""
    text = local.translate(_TRANSLITERATION).translate(_NOT_DECOMPOSABLE)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\.{2,}", ".", re.sub(r"[^a-z0-9._'-]", "", text)).strip(".-'")


def _distinct(names) -> tuple[str, ...]:
    """Sorted distinct names; a few ("Bourgondië, van") hold commas and are left out."""
    return tuple(sorted({name for name in names if "," not in name}))


def _listed_names(locale: str, kind: str, gender: str) -> tuple[str, ...]:
    """Faker's name list for a locale (`kind` first or last), read from its person provider rather
    than drawn through a Faker instance: ~40 locales load in 0.1 s instead of 1 s. A few
    providers build names from patterns; those are drawn from a seeded Faker."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    names = getattr(provider, f"{kind}_names_{gender}", None) or getattr(provider, f"{kind}_names")
    if any("{{" in name for name in names) or len(names) < 5:
        fake = Faker(locale)
        fake.seed_instance(0)
        draw = getattr(fake, f"{kind}_name_{gender}")
        return _distinct(draw() for _ in range(300))
    return _distinct(names)


@functools.lru_cache(maxsize=None)
def name_pools() -> dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...]]:
    """Per locale, per gender: (first names, last names, gender). Japanese pools hold kanji names
    (`romanised` gives their romanisation); Chinese ones romanised names, as HR systems in Europe
    hold them."""
    pools = {}
    for locale in LOCALE_WEIGHTS:
        per_gender = []
        for gender in ("male", "female"):
            if locale == "ja_JP":
                first, last = _japanese(gender)
            elif locale == "zh_CN":
                first, last = _distinct(ChineseNames.first_romanized_names), _distinct(ChineseNames.last_romanized_names)
            else:
                first, last = _listed_names(locale, "first", gender), _listed_names(locale, "last", gender)
            per_gender.append((first, last, gender))
        pools[locale] = tuple(per_gender)
    return pools


def _japanese(gender: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    first = getattr(JapaneseNames, f"first_name_{gender}_pairs")
    last = JapaneseNames.last_name_pairs
    return tuple(sorted(native for native, _, _ in first)), tuple(sorted(native for native, _, _ in last))


@functools.lru_cache(maxsize=None)
def romanised() -> dict[str, str]:
    """Kanji name → its romanisation (Faker's Japanese name pairs)."""
    pairs = [*JapaneseNames.first_name_female_pairs, *JapaneseNames.first_name_male_pairs, *JapaneseNames.last_name_pairs]
    return {native: roman for native, _kana, roman in pairs}
