"""A probe workload's ServiceAccount (``serviceAccount:``), checked.

Calico selects pods by their ServiceAccount (``serviceAccountSelector``,
``serviceAccounts`` in rules, the ``projectcalico.org/serviceaccount`` pod label), so a
probe workload may name the account its pod runs as, with the account's labels; the
run creates the account before the pod.
"""

from __future__ import annotations

from harness.scenario.checker import ScenarioChecker
from harness.scenario.checker import dns1123_subdomain_problem
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo

#: (namespace, ServiceAccount) -> (labels, line of the workload that gave them)
Accounts = dict[tuple[str, str], tuple[dict[str, str], int]]


def service_account(
    chk: ScenarioChecker,
    accounts: Accounts,
    w: YMap,
    what: str,
    namespace: str,
    selector: dict[str, str],
) -> str | None:
    """A probe workload's ``serviceAccount: NAME`` or ``{name: NAME, labels: {...}}``:
    the account's name (None: not given); its labels go into ``accounts``."""
    if w.get("serviceAccount") is None:
        return None
    line = w.value_line("serviceAccount")
    if selector:
        raise chk.fail(
            line,
            f"{what}: existing pods (selector:) run as their own ServiceAccount",
            "remove serviceAccount:",
        )
    raw = w["serviceAccount"]
    labels: dict[str, str] = {}
    if isinstance(raw, YMap):
        chk.keys(raw, ("name", "labels"), f"{what} serviceAccount")
        chk.required(raw, "name", f"{what} serviceAccount", "web")
        name = chk.string(raw, "name", f"{what} serviceAccount")
        if raw.get("labels") is not None:
            labels = chk.labels(
                raw["labels"], raw.value_line("labels"), f"{what} serviceAccount labels"
            )
    elif isinstance(raw, str):
        name = raw
    else:
        raise chk.fail(
            line,
            f"{what}: serviceAccount must be a name or {{name: ..., labels: {{...}}}}",
            "serviceAccount: web, or serviceAccount: {name: web, labels: {team: a}}",
        )
    problem = dns1123_subdomain_problem(name)
    if problem:
        raise chk.fail(line, f"{what}: serviceAccount name {echo(name)} {problem}")
    if name == "default" and labels:
        raise chk.fail(
            line,
            f"{what}: the namespace's default ServiceAccount is not relabelled",
            "name another account: serviceAccount: {name: " + w.get("name", "web") + ", ...}",
        )
    first = accounts.get((namespace, name))
    if first is not None and labels and first[0] and first[0] != labels:
        raise chk.declared_twice(
            line,
            f"ServiceAccount {echo(name)} in namespace {echo(namespace)} with other labels",
            first[1],
            "give its labels once (or the same labels everywhere)",
        )
    if first is None or (labels and not first[0]):
        accounts[(namespace, name)] = (labels, line)
    return name
