"""Apideck's published OpenAPI contract as a checker, so neither the sandbox nor our fixtures drift from it.

The spec files in `spec/` are the source of truth; responses are validated with OpenAPI 3.0
semantics (`nullable`, `additionalProperties`) and the formats the pipeline relies on.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_DIR = Path(__file__).parent / "spec"
MAX_LISTED_PROBLEMS = 20

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
# HR systems hand over e-mails as typed (case, stray spaces) and Apideck passes them through;
# the format still demands a single @ and a dotted domain.
_EMAIL = re.compile(r"\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*")


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or _EMAIL.fullmatch(value) is not None


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(oas30_format_checker.checkers)
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_date_time)
    checker.checks("email")(_is_email)
    return checker


FORMAT_CHECKER = _format_checker()


class ContractViolation(AssertionError):
    """A response that the spec does not allow; `problems` names each mismatch by its JSON path."""

    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = problems
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        lines = [f"{where} breaks the Apideck contract ({len(problems)} problem(s)):"]
        lines += [f"  - {problem}" for problem in shown]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))


@functools.lru_cache(maxsize=None)
def load_spec(path: Path) -> dict[str, Any]:
    """Parse a spec once per process: the HRIS spec is 270 KB of YAML."""
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class ApideckContract:
    """Validates response bodies against one of the shipped Apideck specs (hris.yml, vault.yml)."""

    def __init__(self, spec_name: str = "hris.yml", spec_dir: Path = SPEC_DIR):
        self.spec_name = spec_name
        self.spec = load_spec(spec_dir / spec_name)
        self._uri = f"urn:apideck-spec:{spec_name}"
        resource = Resource.from_contents(self.spec, default_specification=DRAFT4)
        self._registry = Registry().with_resource(self._uri, resource)
        self._paths = [(_template_regex(t), t) for t in self.spec.get("paths", {})]
        self._validators: dict[str, Any] = {}

    def validate_response(self, path: str, method: str, status: int, body: Any) -> None:
        """Raise ContractViolation unless `body` is what the spec documents for this status."""
        template = self._template_for(path.split("?", 1)[0])
        where = f"{method.upper()} {path} -> {status}"
        operation = self.spec["paths"][template].get(method.lower())
        if operation is None:
            raise ContractViolation(where, [f"the spec has no {method.upper()} on {template}"])
        responses = operation.get("responses", {})
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            raise ContractViolation(where, [f"status {status} is not documented and there is no default"])
        pointer = self._response_schema_pointer(template, method.lower(), key)
        if pointer is None:
            if body is not None:
                raise ContractViolation(where, ["the spec documents no body for this response"])
            return
        self._check(pointer, body, where)

    def validate_schema(self, name: str, instance: Any) -> None:
        """Raise ContractViolation unless `instance` fits `components/schemas/<name>`."""
        self._check(_pointer("components", "schemas", name), instance, f"schema {name}")

    def _template_for(self, path: str) -> str:
        if path in self.spec.get("paths", {}):
            return path
        for regex, template in self._paths:
            if regex.fullmatch(path):
                return template
        raise ContractViolation(path, [f"no path in {self.spec_name} matches {path}"])

    def _response_schema_pointer(self, template: str, method: str, key: str) -> str | None:
        response = self.spec["paths"][template][method]["responses"][key]
        parts: tuple[str, ...] = ("paths", template, method, "responses", key)
        if "$ref" in response:
            parts = tuple(response["$ref"].removeprefix("#/").split("/"))
            response = self.spec
            for part in parts:
                response = response[part]
        if "application/json" not in response.get("content", {}):
            return None
        return _pointer(*parts, "content", "application/json", "schema")

    def _check(self, pointer: str, instance: Any, where: str) -> None:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = OAS30Validator(
                {"$ref": self._uri + pointer}, registry=self._registry, format_checker=FORMAT_CHECKER
            )
            self._validators[pointer] = validator
        problems = [
            f"{error.json_path}: {_shorten(error.message)}"
            for error in sorted(validator.iter_errors(instance), key=_document_order)
        ]
        if problems:
            raise ContractViolation(where, problems)


def _document_order(error) -> list[tuple[int, int, str]]:
    return [(0, part, "") if isinstance(part, int) else (1, 0, part) for part in error.absolute_path]


def _shorten(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


@functools.lru_cache(maxsize=None)
def shared_contract(spec_name: str = "hris.yml") -> ApideckContract:
    """One shared contract per spec file: building validators is the slow part."""
    return ApideckContract(spec_name)


__all__ = ["ApideckContract", "ContractViolation", "load_spec", "shared_contract"]
