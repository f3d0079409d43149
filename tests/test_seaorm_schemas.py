"""pydantic schemas derived from models with schema_for."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import JSON, Enum, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from test_seaorm_support import User

from armature_ext.seaorm.schemas import column_python_type, schema_for


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class _Base(DeclarativeBase):
    pass


class Gadget(_Base):
    __tablename__ = "gadgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(10))
    color: Mapped[Color] = mapped_column(Enum(Color), default=Color.red)
    size: Mapped[str] = mapped_column(Enum("s", "m", "l", name="size"))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    made_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


def test_read_schema_has_every_column_and_reads_objects() -> None:
    UserOut = schema_for(User)
    assert list(UserOut.model_fields) == [
        "id",
        "email",
        "name",
        "age",
        "score",
        "active",
        "created_at",
    ]
    user = User(
        id=7,
        email="a@b.c",
        name="A",
        age=None,
        score=Decimal("1.50"),
        active=True,
        created_at=dt.datetime(2024, 1, 2),
    )
    out = UserOut.model_validate(user)
    assert out.model_dump() == {
        "id": 7,
        "email": "a@b.c",
        "name": "A",
        "age": None,
        "score": Decimal("1.50"),
        "active": True,
        "created_at": dt.datetime(2024, 1, 2),
    }
    assert schema_for(User) is UserOut  # cached
    assert UserOut.__name__ == "UserSchema"


def test_input_schema_requires_columns_without_defaults() -> None:
    UserIn = schema_for(User, exclude={"id"}, name="UserIn")
    with pytest.raises(ValidationError) as info:
        UserIn.model_validate({})
    missing = sorted(e["loc"][0] for e in info.value.errors() if e["type"] == "missing")
    assert missing == ["email", "name"]  # age is nullable; score/active/created_at have defaults
    body = UserIn.model_validate({"email": "x@y.z", "name": "X"})
    assert body.model_dump(exclude_unset=True) == {"email": "x@y.z", "name": "X"}
    assert UserIn.model_fields["active"].default is True
    with pytest.raises(ValidationError, match="at most 50 characters"):
        UserIn.model_validate({"email": "x@y.z", "name": "n" * 51})
    with pytest.raises(ValidationError):
        UserIn.model_validate({"email": "x@y.z", "name": "X", "age": "old"})
    schema = UserIn.model_json_schema()
    assert sorted(schema["required"]) == ["email", "name"]
    assert schema["properties"]["email"]["maxLength"] == 120


def test_partial_schema_for_patch() -> None:
    UserPatch = schema_for(User, exclude={"id"}, partial=True)
    assert UserPatch.__name__ == "UserPatchSchema"
    patch = UserPatch.model_validate({"age": 41})
    assert patch.model_dump(exclude_unset=True) == {"age": 41}
    assert UserPatch.model_json_schema().get("required", []) == []


def test_include_and_unknown_names() -> None:
    Small = schema_for(User, include=["id", "name"], name="UserSmall")
    assert list(Small.model_fields) == ["id", "name"]
    with pytest.raises(ValueError, match="no column attribute"):
        schema_for(User, exclude={"password"})
    with pytest.raises(ValueError, match="no column attribute"):
        schema_for(User, include=["nope"])


def test_column_types_map_to_python_types() -> None:
    GadgetIn = schema_for(Gadget, exclude={"id"}, name="GadgetIn")
    ok = GadgetIn.model_validate({"label": "x", "size": "m", "extra": {"a": [1]}})
    assert ok.color is Color.red and ok.size == "m" and ok.extra == {"a": [1]}  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        GadgetIn.model_validate({"label": "x", "size": "xl"})
    with pytest.raises(ValidationError):
        GadgetIn.model_validate({"label": "x", "size": "s", "color": "green"})
    # server-generated made_at is optional, but an explicit null is still rejected
    assert "made_at" not in GadgetIn.model_json_schema()["required"]
    with pytest.raises(ValidationError):
        GadgetIn.model_validate({"label": "x", "size": "s", "made_at": None})
    assert column_python_type(Gadget.__table__.c.extra) is Any
    assert column_python_type(Gadget.__table__.c.color) is Color


def test_custom_base_keeps_validators() -> None:
    class Strict(BaseModel):
        @field_validator("name", check_fields=False)
        @classmethod
        def _no_admin(cls, value: str) -> str:
            if value == "admin":
                raise ValueError("reserved")
            return value

    UserIn = schema_for(User, exclude={"id"}, base=Strict, name="StrictUserIn")
    with pytest.raises(ValidationError, match="reserved"):
        UserIn.model_validate({"email": "a@b.c", "name": "admin"})
    assert UserIn.model_config.get("from_attributes") is True
