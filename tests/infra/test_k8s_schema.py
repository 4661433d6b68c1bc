"""Every Kubernetes object under manifests/ validates against the upstream schema.

Offline: kubernetes-validate ships the Kubernetes JSON schemas. Strict mode
rejects unknown fields, as ``kubectl apply`` (strict field validation) does.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.infra._repo import ROOT
from tests.infra._repo import manifest_docs

#: The Kubernetes versions the manifests must be valid for: the kind node image
#: (v1.32) and the oldest version we document support for (v1.31).
K8S_VERSIONS = ("1.31", "1.32")

#: API groups whose schemas are CRDs (Calico, network-policy-api), not in Kubernetes'
#: OpenAPI: validated by the harness's own validator (tests/policy, tests/scenario).
CRD_GROUPS = ("projectcalico.org/", "policy.networking.k8s.io/")
DOCS = [d for d in manifest_docs() if not str(d[2].get("apiVersion", "")).startswith(CRD_GROUPS)]
CRD_DOCS = [d for d in manifest_docs() if d not in DOCS]


def _id(item: tuple[str, int, dict[str, Any]]) -> str:
    path, index, doc = item
    name = doc.get("metadata", {}).get("name", "?")
    return f"{path}#{index}:{doc.get('kind', '?')}/{name}"


def test_there_are_manifests_to_validate() -> None:
    kinds = {doc.get("kind") for _, _, doc in DOCS}
    assert {"ClusterRole", "ClusterRoleBinding", "ServiceAccount", "Namespace"} <= kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("item", DOCS, ids=[_id(i) for i in DOCS])
def test_validates_against_kubernetes_schema(
    item: tuple[str, int, dict[str, Any]], version: str
) -> None:
    path, index, doc = item
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        pytest.fail(f"{path} document {index}: {where}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{path} document {index}: {exc.message}")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (  # a typo in a field name
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "x"},
                "spec": {"podSelector": {}, "ingres": []},
            },
            "'ingres' was unexpected",
        ),
        (  # a wrong type
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "x"},
                "spec": {"podSelector": {}, "policyTypes": "Ingress"},
            },
            "is not of type",
        ),
        (  # apiGroup instead of apiGroups in an RBAC rule
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "x"},
                "rules": [{"apiGroup": [""], "resources": ["pods"], "verbs": ["get"]}],
            },
            "'apiGroup' was unexpected",
        ),
    ],
)
def test_the_validator_rejects_what_the_api_server_rejects(
    doc: dict[str, Any], message: str
) -> None:
    with pytest.raises(kubernetes_validate.ValidationError) as info:
        kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)
    assert message in info.value.message


def test_the_crd_kinds_are_validated_by_the_harness() -> None:
    from harness.errors import HarnessError
    from harness.scenario import k8svalidate
    from harness.scenario.yamlload import line_of
    from harness.scenario.yamlload import load_all as load_documents

    assert CRD_DOCS, "the Calico and network-policy-api manifests are expected here"
    for path in sorted({p for p, _, _ in CRD_DOCS}):
        text = (ROOT / path).read_bytes()
        try:
            for doc in load_documents(text, path):
                k8svalidate.validate(doc, path, line_of(doc, 1))
        except HarnessError as exc:  # pragma: no cover - the message is the point
            pytest.fail(str(exc))
