from __future__ import annotations

import dataclasses

import pytest

from bootup.units.model import (
    DEPENDENCY_KEYS,
    INVERSE,
    Dependency,
    DependencyType,
    InstallSettings,
    LoadState,
    Origin,
    OriginKind,
    ServiceSettings,
    ServiceType,
    Unit,
    UnitType,
    unit_type_of,
)


def test_every_inverse_is_symmetric() -> None:
    for kind, inverse in INVERSE.items():
        assert INVERSE[inverse] is kind
    assert INVERSE[DependencyType.WANTS] is DependencyType.WANTED_BY
    assert INVERSE[DependencyType.PART_OF] is DependencyType.CONSISTS_OF
    assert INVERSE[DependencyType.TRIGGERS] is DependencyType.TRIGGERED_BY


def test_install_only_inverses_are_not_unit_keys() -> None:
    assert "WantedBy" not in DEPENDENCY_KEYS
    assert "RequiredBy" not in DEPENDENCY_KEYS
    assert DEPENDENCY_KEYS["Upholds"] is DependencyType.UPHOLDS


def test_unit_type_from_name() -> None:
    assert unit_type_of("a.service") is UnitType.SERVICE
    assert unit_type_of("-.slice") is UnitType.SLICE
    assert unit_type_of("a.conf") is None
    assert unit_type_of("noext") is None


def test_units_are_frozen_and_query_by_kind() -> None:
    origin = Origin(OriginKind.FILE, "/x/a.service", 3)
    unit = Unit(
        name="a.service",
        type=UnitType.SERVICE,
        load_state=LoadState.LOADED,
        names=("a.service", "b.service"),
        dependencies=(
            Dependency(DependencyType.AFTER, "z.service", origin),
            Dependency(DependencyType.AFTER, "z.service", Origin(OriginKind.DEFAULT)),
            Dependency(DependencyType.WANTS, "y.service", origin),
        ),
    )
    assert unit.deps(DependencyType.AFTER) == ("z.service",)
    assert len(unit.edges(DependencyType.AFTER)) == 2
    assert unit.aliases == ("b.service",)
    assert unit.display_description == "a.service"
    assert str(origin) == "file /x/a.service:3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        unit.name = "other"  # type: ignore[misc]


def test_wants_dir_counts_as_file_in_the_dump() -> None:
    assert OriginKind.WANTS_DIR.dump_tag == "file"
    assert OriginKind.IMPLICIT.dump_tag == "implicit"


def test_service_type_defaults_like_systemd() -> None:
    assert ServiceSettings().effective_type is ServiceType.ONESHOT
    assert ServiceSettings(exec_start=("/bin/x",)).effective_type is ServiceType.SIMPLE
    assert (
        ServiceSettings(exec_start=("/bin/x",), bus_name="org.x").effective_type is ServiceType.DBUS
    )
    assert ServiceSettings(type=ServiceType.NOTIFY).effective_type is ServiceType.NOTIFY
    assert ServiceSettings(bus_name="org.x").effective_type is ServiceType.DBUS


def test_install_empty() -> None:
    assert InstallSettings().empty
    assert not InstallSettings(also=("x.service",)).empty
    assert InstallSettings(default_instance="tty1").empty


def test_service_timeouts_are_typed() -> None:
    assert ServiceSettings().timeout_start_usec == 90_000_000
    assert ServiceSettings(timeout_stop_sec="1min 30s").timeout_stop_usec == 90_000_000
    assert ServiceSettings(timeout_start_sec="0").timeout_start_usec == 2**64 - 1
    assert ServiceSettings(restart_sec="250ms").restart_usec == 250_000
    assert ServiceSettings().restart_usec == 100_000
