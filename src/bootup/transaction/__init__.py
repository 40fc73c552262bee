"""Transactions: from "start multi-user.target" to an ordered set of jobs, as systemd decides.

:func:`build_transaction` is a pure function over a :class:`UnitGraph`; see
:mod:`bootup.transaction.engine` for the steps and the determinism rule.
"""

from __future__ import annotations

from bootup.transaction.engine import build_transaction as build_transaction
from bootup.transaction.errors import ConflictingJobsError as ConflictingJobsError
from bootup.transaction.errors import DestructiveTransactionError as DestructiveTransactionError
from bootup.transaction.errors import JobNotApplicableError as JobNotApplicableError
from bootup.transaction.errors import JobRequestError as JobRequestError
from bootup.transaction.errors import OrderingCycleError as OrderingCycleError
from bootup.transaction.errors import TransactionError as TransactionError
from bootup.transaction.errors import UnitLoadError as UnitLoadError
from bootup.transaction.graph import ActiveState as ActiveState
from bootup.transaction.graph import DependencyKind as DependencyKind
from bootup.transaction.graph import LoadState as LoadState
from bootup.transaction.graph import UnitGraph as UnitGraph
from bootup.transaction.graph import UnitNode as UnitNode
from bootup.transaction.jobs import JobMode as JobMode
from bootup.transaction.jobs import JobType as JobType
from bootup.transaction.result import Job as Job
from bootup.transaction.result import Pull as Pull
from bootup.transaction.result import QueuedJob as QueuedJob
from bootup.transaction.result import Transaction as Transaction

__all__ = (
    "ActiveState",
    "ConflictingJobsError",
    "DependencyKind",
    "DestructiveTransactionError",
    "Job",
    "JobMode",
    "JobNotApplicableError",
    "JobRequestError",
    "JobType",
    "LoadState",
    "OrderingCycleError",
    "Pull",
    "QueuedJob",
    "Transaction",
    "TransactionError",
    "UnitGraph",
    "UnitLoadError",
    "UnitNode",
    "build_transaction",
)
