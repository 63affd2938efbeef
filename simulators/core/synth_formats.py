"""Leaf values for the synthesizer: strings by format or property name, numbers in sensible ranges."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import string
import uuid
from collections.abc import Callable
from random import Random
from typing import Any

from faker import Faker
from faker.providers.lorem.en_US import Provider as _EnglishLorem
from rstr.xeger import Xeger as _Xeger

try:  # Python >= 3.11
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_ALNUM = string.ascii_lowercase + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_UTC = dt.UTC
_PRODUCTS = ("Chair", "Lamp", "Kettle", "Jacket", "Trainers", "Sofa", "Headphones", "Backpack", "Mug", "Desk")
_PRINTABLE = sorted(set(string.printable))
_ENGLISH = tuple(_EnglishLorem.word_list)
_ADJECTIVES = ("Classic", "Modern", "Compact", "Deluxe", "Essential", "Vintage", "Eco", "Pro", "Smart", "Soft")


def word(rng: Random) -> str:
    """One English word (en_GB has no lorem of its own: Faker would fall back to Latin)."""
    return rng.choice(_ENGLISH)


def sentence(rng: Random, n: int = 6) -> str:
    """An English sentence of n-1..n+1 words."""
    text = " ".join(rng.choice(_ENGLISH) for _ in range(max(1, n + rng.randint(-1, 1))))
    return text[0].upper() + text[1:] + "."


def words(name: str | None) -> list[str]:
    """'billingAddress_line1' -> ['billing', 'address', 'line1']."""
    return list(_words(name)) if name else []


@functools.lru_cache(maxsize=4096)
def _words(name: str) -> tuple[str, ...]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return tuple(w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w)


def singular(name: str | None) -> str | None:
    """The item name of an array property: 'addresses' -> 'address', 'lines' -> 'line'."""
    if not name:
        return name
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def token(rng: Random, n: int, alphabet: str = _ALNUM) -> str:
    """n random characters of alphabet."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def fit(s: str, lo: int, hi: int | None, rng: Random) -> str:
    """s cut or padded to lo..hi characters."""
    if hi is not None and len(s) > hi:
        s = s[:hi]
        if len(s.rstrip()) >= lo:
            s = s.rstrip()
    if len(s) < lo:
        s += token(rng, lo - len(s))
    return s


class Xeger(_Xeger):
    """rstr's Xeger with bounded repeats, cached parses and a deterministic order for negated classes."""

    def __init__(self, rng: Random) -> None:
        super().__init__(rng)
        self.limit = 8
        self._parsed: dict[str, Any] = {}

    def xeger(self, string_or_regex: Any) -> str:
        pattern = getattr(string_or_regex, "pattern", string_or_regex)
        parsed = self._parsed.get(pattern)
        if parsed is None:
            parsed = self._parsed[pattern] = _sre_parse.parse(pattern)
        try:
            return str(self._build_string(parsed))
        finally:
            self._cache.clear()

    def _handle_in(self, value: Any) -> Any:
        candidates = list(_flatten(self._handle_state(i) for i in value))
        if candidates and candidates[0] is False:
            excluded = set(candidates[1:])
            candidates = [c for c in _PRINTABLE if c not in excluded]
        return self._random.choice(candidates)

    def _handle_repeat(self, start_range: int, end_range: int, value: Any) -> str:
        end = min(end_range, start_range + self.limit)
        times = self._random.randint(start_range, max(start_range, end))
        return "".join("".join(self._handle_state(i) for i in value) for _ in range(times))


def _flatten(parts: Any) -> Any:
    for part in parts:
        yield from part


# ---------------------------------------------------------------- moments (a fixed window: replays never drift)

def _moment(rng: Random, w: list[str]) -> dt.datetime:
    if {"birth", "dob", "birthday"} & set(w):
        start, days = dt.datetime(1950, 1, 1, tzinfo=_UTC), 55 * 365
    elif {"expiry", "expires", "expiration", "until", "due", "valid"} & set(w):
        start, days = dt.datetime(2026, 1, 1, tzinfo=_UTC), 3 * 365
    else:
        start, days = dt.datetime(2024, 1, 1, tzinfo=_UTC), 2 * 365
    return start + dt.timedelta(seconds=rng.randrange(days * 86400))


def date_time(rng: Random, w: list[str]) -> str:
    """An RFC 3339 date-time in UTC with a Z."""
    return _moment(rng, w).strftime("%Y-%m-%dT%H:%M:%SZ")


def _url(f: Faker, rng: Random) -> str:
    return f.url() + (f.uri_path() if rng.random() < 0.5 else "")


FormatFn = Callable[[Faker, Random, list[str]], str]
FORMATS: dict[str, FormatFn] = {
    "date-time": lambda f, r, w: date_time(r, w),
    "date": lambda f, r, w: _moment(r, w).strftime("%Y-%m-%d"),
    "time": lambda f, r, w: _moment(r, w).strftime("%H:%M:%SZ"),
    "duration": lambda f, r, w: r.choice((f"P{r.randint(1, 30)}D", f"PT{r.randint(1, 59)}M", f"PT{r.randint(1, 23)}H")),
    "email": lambda f, r, w: f.email(),
    "idn-email": lambda f, r, w: f.email(),
    "uuid": lambda f, r, w: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "uri": lambda f, r, w: _url(f, r),
    "url": lambda f, r, w: _url(f, r),
    "iri": lambda f, r, w: _url(f, r),
    "uri-reference": lambda f, r, w: "/" + f.uri_path(),
    "iri-reference": lambda f, r, w: "/" + f.uri_path(),
    "uri-template": lambda f, r, w: f.url() + "{id}",
    "hostname": lambda f, r, w: f.domain_name(),
    "idn-hostname": lambda f, r, w: f.domain_name(),
    "ipv4": lambda f, r, w: f.ipv4(),
    "ipv6": lambda f, r, w: f.ipv6(),
    "byte": lambda f, r, w: base64.b64encode(r.randbytes(r.randint(6, 24))).decode(),
    "binary": lambda f, r, w: token(r, r.randint(8, 24)),
    "password": lambda f, r, w: f.password(length=12),
    "json-pointer": lambda f, r, w: "/" + "/".join(w or ["items", "0"]),
    "relative-json-pointer": lambda f, r, w: "0/" + (w[-1] if w else "id"),
    "regex": lambda f, r, w: "^[a-z]+$",
}


def short_format(fmt: str, rng: Random, hi: int) -> str | None:
    """A short value of a format when the realistic one is longer than maxLength."""
    if fmt in ("email", "idn-email") and hi >= 6:
        return token(rng, min(hi - 5, 10), string.ascii_lowercase) + "@x.io"
    if fmt in ("hostname", "idn-hostname") and hi >= 4:
        return token(rng, min(hi - 3, 10), string.ascii_lowercase) + ".io"
    if fmt in ("uri", "url", "iri") and hi >= 10:
        return "https://" + token(rng, min(hi - 8, 10), string.ascii_lowercase)
    return None


# ---------------------------------------------------------------- strings by property name

def _reference(f: Faker, rng: Random, w: list[str]) -> str:
    prefix = "REF" if w[0] in ("ref", "reference") else w[0][:3].upper()
    return f"{prefix}-{token(rng, 8, string.digits)}"


def _identifier(f: Faker, rng: Random, w: list[str]) -> str:
    if len(w) > 1:
        return f"{w[-2][:3]}_{token(rng, 12)}"
    return token(rng, 16)


def _amount(f: Faker, rng: Random, w: list[str]) -> str:
    return f"{rng.randint(100, 50000) / 100:.2f}"


def _human_name(f: Faker, rng: Random, w: list[str], parent: list[str]) -> str:
    context = set(parent) | set(w)
    if context & {"company", "merchant", "shop", "store", "brand", "organisation", "organization", "business"}:
        return str(f.company())
    if context & {"product", "item", "sku", "article", "variant", "catalog", "catalogue", "line"}:
        return f"{rng.choice(_ADJECTIVES)} {rng.choice(_PRODUCTS)}"
    if context & {"category", "collection", "tag", "group", "plan", "team", "role"}:
        return word(rng).title()
    return str(f.name())


def _street(f: Faker) -> str:
    return str(f.street_address()).replace("\n", ", ")


# (words that must all appear, in the order given) -> generator
NameFn = Callable[[Faker, Random, list[str]], str]
_BY_NAME: list[tuple[tuple[str, ...], NameFn]] = [
    (("email",), lambda f, r, w: f.email()),
    (("first", "name"), lambda f, r, w: f.first_name()),
    (("firstname",), lambda f, r, w: f.first_name()),
    (("given", "name"), lambda f, r, w: f.first_name()),
    (("forename",), lambda f, r, w: f.first_name()),
    (("last", "name"), lambda f, r, w: f.last_name()),
    (("lastname",), lambda f, r, w: f.last_name()),
    (("family", "name"), lambda f, r, w: f.last_name()),
    (("surname",), lambda f, r, w: f.last_name()),
    (("user", "name"), lambda f, r, w: f.user_name()),
    (("username",), lambda f, r, w: f.user_name()),
    (("phone",), lambda f, r, w: f.phone_number()),
    (("mobile",), lambda f, r, w: f.phone_number()),
    (("telephone",), lambda f, r, w: f.phone_number()),
    (("city",), lambda f, r, w: f.city()),
    (("town",), lambda f, r, w: f.city()),
    (("postcode",), lambda f, r, w: f.postcode()),
    (("postal", "code"), lambda f, r, w: f.postcode()),
    (("post", "code"), lambda f, r, w: f.postcode()),
    (("zip",), lambda f, r, w: f.postcode()),
    (("county",), lambda f, r, w: f.county() if hasattr(f, "county") else f.city()),
    (("line2",), lambda f, r, w: f.secondary_address()),
    (("street",), lambda f, r, w: _street(f)),
    (("line1",), lambda f, r, w: _street(f)),
    (("address",), lambda f, r, w: _street(f)),
    (("house", "number"), lambda f, r, w: f.building_number()),
    (("company",), lambda f, r, w: f.company()),
    (("merchant", "name"), lambda f, r, w: f.company()),
    (("description",), lambda f, r, w: sentence(r)),
    (("note",), lambda f, r, w: sentence(r)),
    (("notes",), lambda f, r, w: sentence(r)),
    (("comment",), lambda f, r, w: sentence(r)),
    (("message",), lambda f, r, w: sentence(r)),
    (("summary",), lambda f, r, w: sentence(r)),
    (("reason",), lambda f, r, w: sentence(r, 5)),
    (("title",), lambda f, r, w: sentence(r, 4).rstrip(".")),
    (("subject",), lambda f, r, w: sentence(r, 4).rstrip(".")),
    (("url",), lambda f, r, w: _url(f, r)),
    (("uri",), lambda f, r, w: _url(f, r)),
    (("website",), lambda f, r, w: f.url()),
    (("href",), lambda f, r, w: _url(f, r)),
    (("link",), lambda f, r, w: _url(f, r)),
    (("iban",), lambda f, r, w: f.iban()),
    (("bic",), lambda f, r, w: f.swift()),
    (("swift",), lambda f, r, w: f.swift()),
    (("sort", "code"), lambda f, r, w: f"{token(r, 2, string.digits)}-{token(r, 2, string.digits)}-{token(r, 2, string.digits)}"),
    (("sku",), lambda f, r, w: f"{token(r, 3, string.ascii_uppercase)}-{token(r, 5, string.digits)}"),
    (("psp", "reference"), lambda f, r, w: token(r, 16, _UPPER_ALNUM)),
    (("reference",), _reference),
    (("order", "number"), lambda f, r, w: f"ORD-{token(r, 8, string.digits)}"),
    (("invoice", "number"), lambda f, r, w: f"INV-{token(r, 8, string.digits)}"),
    (("card", "number"), lambda f, r, w: f.credit_card_number()),
    (("cvc",), lambda f, r, w: token(r, 3, string.digits)),
    (("cvv",), lambda f, r, w: token(r, 3, string.digits)),
    (("expiry", "month"), lambda f, r, w: f"{r.randint(1, 12):02d}"),
    (("expiry", "year"), lambda f, r, w: str(r.randint(2026, 2032))),
    (("password",), lambda f, r, w: f.password(length=12)),
    (("ip",), lambda f, r, w: f.ipv4()),
    (("user", "agent"), lambda f, r, w: f.user_agent()),
    (("colour",), lambda f, r, w: f.color_name()),
    (("color",), lambda f, r, w: f.color_name()),
    (("job",), lambda f, r, w: f.job()),
    (("locale",), lambda f, r, w: r.choice(("en-GB", "en-US", "fr-FR", "de-DE"))),
    (("language",), lambda f, r, w: r.choice(("en", "fr", "de", "es"))),
    (("timezone",), lambda f, r, w: f.timezone()),
    (("time", "zone"), lambda f, r, w: f.timezone()),
    (("token",), lambda f, r, w: f.sha1()),
    (("hash",), lambda f, r, w: f.sha256()),
    (("signature",), lambda f, r, w: f.sha256()),
    (("secret",), lambda f, r, w: f.sha1()),
    (("uuid",), lambda f, r, w: str(uuid.UUID(int=r.getrandbits(128), version=4))),
    (("id",), _identifier),
    (("amount",), _amount),
    (("price",), _amount),
    (("total",), _amount),
    (("at",), lambda f, r, w: date_time(r, w)),
    (("timestamp",), lambda f, r, w: date_time(r, w)),
    (("date",), lambda f, r, w: _moment(r, w).strftime("%Y-%m-%d")),
    (("dob",), lambda f, r, w: _moment(r, w).strftime("%Y-%m-%d")),
    (("gender",), lambda f, r, w: r.choice(("female", "male", "non-binary"))),
]


def by_name(name: str | None, parent: str | None, f: Faker, rng: Random, hi: int | None) -> str | None:
    """A realistic string for a property name, or None when the name says nothing."""
    if not name:
        return None
    kind, fn = _rule(name)
    if kind == "country":
        if hi == 2 or "code" in _words(name):
            return str(f.country_code())
        return str(f.country_code(representation="alpha-3")) if hi == 3 else str(f.country())
    if kind == "currency":
        return rng.choice(("GBP", "GBP", "EUR", "USD"))
    if fn is not None:
        return str(fn(f, rng, words(name)))
    if kind == "name":
        return _human_name(f, rng, words(name), words(parent))
    return None


@functools.lru_cache(maxsize=4096)
def _rule(name: str) -> tuple[str, NameFn | None]:
    """Which generator a property name selects (computed once per name)."""
    w = list(_words(name))
    if not w:
        return "none", None
    if "country" in w:
        return "country", None
    if "currency" in w:
        return "currency", None
    for needed, fn in _BY_NAME:
        if _has(w, needed):
            return "fn", fn
    if w[-1] in ("name", "holder"):
        return "name", None
    return "none", None


def _has(w: list[str], needed: tuple[str, ...]) -> bool:
    if len(needed) == 1:
        return needed[0] in w
    return any(tuple(w[i:i + len(needed)]) == needed for i in range(len(w) - len(needed) + 1))


def plain(rng: Random, lo: int, hi: int | None) -> str:
    """English words of roughly the right length."""
    s = word(rng)
    while len(s) < lo and (hi is None or len(s) < hi):
        s += " " + word(rng)
    return str(s)


# ---------------------------------------------------------------- ECMA-262 patterns in Python's dialect

_ECMA_CLASSES = {"L": "A-Za-z", "Letter": "A-Za-z", "Lu": "A-Z", "Ll": "a-z", "N": "0-9", "Nd": "0-9",
                 "Alpha": "A-Za-z", "Digit": "0-9", "Alnum": "A-Za-z0-9"}
_ECMA_ESCAPE = re.compile(r"\\p\{([A-Za-z_]+)\}")


def python_pattern(pattern: str) -> str:
    """An ECMA-262 pattern rewritten for Python's re: \\p{L} and friends as ASCII classes, (?<n>...) as (?P<n>...)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            m = _ECMA_ESCAPE.match(pattern, i)
            if m and m.group(1) in _ECMA_CLASSES:
                chars = _ECMA_CLASSES[m.group(1)]
                out.append(chars if in_class else f"[{chars}]")
                i = m.end()
                continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if pattern.startswith("(?<", i) and pattern[i + 3:i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        in_class = (in_class or c == "[") and not (in_class and c == "]")
        out.append(c)
        i += 1
    return "".join(out)
