"""Unit files as systemd reads them: syntax, values, loader, model, dependencies, [Install].

The public API, re-exported here:

* syntax (:mod:`~bootup.units.syntax`, :mod:`~bootup.units.diagnostics`): ``parse_unit_text``,
  ``read_unit_file``, ``Assignment``, ``ParsedFile``, ``Diagnostic``, ``Severity``;
* where units live (:mod:`~bootup.units.paths`): ``search_path``, ``SearchPath``;
* loading (:mod:`~bootup.units.loader`, :mod:`~bootup.units.dependencies`): ``Loader``,
  ``load_graph`` (units with default, implicit and inverse dependencies);
* the model (:mod:`~bootup.units.model`): ``Unit`` and its parts;
* ``[Install]`` (:mod:`~bootup.units.install`): ``Installer``, ``UnitFileState``;
* checks (:mod:`~bootup.units.verify`): ``verify_files``.
"""

from __future__ import annotations

from bootup.units.dependencies import UnitGraph as UnitGraph
from bootup.units.dependencies import load_graph as load_graph
from bootup.units.diagnostics import Diagnostic as Diagnostic
from bootup.units.diagnostics import Severity as Severity
from bootup.units.install import Installer as Installer
from bootup.units.install import UnitFileState as UnitFileState
from bootup.units.loader import Loader as Loader
from bootup.units.model import Condition as Condition
from bootup.units.model import Dependency as Dependency
from bootup.units.model import DependencyType as DependencyType
from bootup.units.model import InstallSettings as InstallSettings
from bootup.units.model import LoadState as LoadState
from bootup.units.model import Origin as Origin
from bootup.units.model import OriginKind as OriginKind
from bootup.units.model import ServiceSettings as ServiceSettings
from bootup.units.model import ServiceType as ServiceType
from bootup.units.model import Unit as Unit
from bootup.units.model import UnitType as UnitType
from bootup.units.paths import SearchPath as SearchPath
from bootup.units.paths import search_path as search_path
from bootup.units.syntax import Assignment as Assignment
from bootup.units.syntax import ParsedFile as ParsedFile
from bootup.units.syntax import parse_unit_text as parse_unit_text
from bootup.units.syntax import read_unit_file as read_unit_file
from bootup.units.verify import verify_files as verify_files

__all__ = (
    "parse_unit_text",
    "read_unit_file",
    "Assignment",
    "ParsedFile",
    "Diagnostic",
    "Severity",
    "search_path",
    "SearchPath",
    "Loader",
    "load_graph",
    "UnitGraph",
    "Unit",
    "UnitType",
    "LoadState",
    "Dependency",
    "DependencyType",
    "Origin",
    "OriginKind",
    "Condition",
    "ServiceSettings",
    "ServiceType",
    "InstallSettings",
    "Installer",
    "UnitFileState",
    "verify_files",
)
