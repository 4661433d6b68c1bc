"""Scenario -> Plan: the Kubernetes objects to create and the probes to run. Pure.

Every namespace the scenario creates gets a run suffix (``web`` ->
``web-<run_id>``), so parallel runs never collide; the manifests under test are
rewritten to the suffixed names (``metadata.namespace`` and
``kubernetes.io/metadata.name`` in namespace selectors). Namespaces marked
``existing`` keep their names and are never created or deleted.

Probe pods satisfy the Pod Security "restricted" profile, and the namespaces the
harness creates enforce it (label ``pod-security.kubernetes.io/enforce: restricted``
unless the scenario labels the namespace itself, or ``build(pod_security=None)``).

The parts: :mod:`~harness.plan.core` (the hermetic plan, probes, the data-path proof,
the cluster domain), :mod:`~harness.plan.pods` (probe pods, Services, containers),
:mod:`~harness.plan.manifests` (the manifests rewritten for the run),
:mod:`~harness.plan.inplace` (in-place runs), :mod:`~harness.plan.common` (shared
names). This module re-exports their public names: ``from harness.plan import build``.
"""

from __future__ import annotations

from harness.plan.common import CLUSTER_DOMAIN
from harness.plan.common import DNS_HOST
from harness.plan.common import NAMESPACE_NAME_LABEL
from harness.plan.common import PROBE_UID
from harness.plan.common import RUN_ID
from harness.plan.core import POD_SECURITY_LABEL
from harness.plan.core import build
from harness.plan.core import cluster_domain_of
from harness.plan.core import datapath_probes
from harness.plan.core import host_in_domain
from harness.plan.core import run_id_from
from harness.plan.core import uses_cluster_names
from harness.plan.core import with_cluster_domain
from harness.plan.inplace import CONTROLLER_LABELS
from harness.plan.inplace import EPHEMERAL_LIFETIME
from harness.plan.inplace import EPHEMERAL_PREFIX
from harness.plan.inplace import MESH_SIDECARS
from harness.plan.inplace import build_in_place
from harness.plan.inplace import ephemeral_container
from harness.plan.inplace import ephemeral_name
from harness.plan.inplace import fallback_pod
from harness.plan.inplace import mesh_of
from harness.plan.manifests import CALICO_VERSION
from harness.plan.manifests import CLUSTER_POLICY_KINDS
from harness.plan.manifests import labelled
from harness.plan.manifests import run_labels
from harness.plan.manifests import shared_objects
from harness.plan.manifests import tier_name
from harness.plan.pods import CLIENT_COMMAND
from harness.plan.pods import CLIENT_MEMORY_MIB
from harness.plan.pods import NGINX_CONF_ENV
from harness.plan.pods import SERVER_COMMAND
from harness.plan.pods import client_job_limit
from harness.plan.pods import nginx_conf
from harness.plan.steps import Transition
from harness.plan.steps import transition

__all__ = [
    "CALICO_VERSION",
    "CLIENT_COMMAND",
    "CLIENT_MEMORY_MIB",
    "CLUSTER_DOMAIN",
    "CLUSTER_POLICY_KINDS",
    "CONTROLLER_LABELS",
    "DNS_HOST",
    "EPHEMERAL_LIFETIME",
    "EPHEMERAL_PREFIX",
    "MESH_SIDECARS",
    "NAMESPACE_NAME_LABEL",
    "NGINX_CONF_ENV",
    "POD_SECURITY_LABEL",
    "PROBE_UID",
    "RUN_ID",
    "SERVER_COMMAND",
    "Transition",
    "build",
    "build_in_place",
    "client_job_limit",
    "cluster_domain_of",
    "datapath_probes",
    "ephemeral_container",
    "ephemeral_name",
    "fallback_pod",
    "host_in_domain",
    "labelled",
    "mesh_of",
    "nginx_conf",
    "run_id_from",
    "run_labels",
    "shared_objects",
    "tier_name",
    "transition",
    "uses_cluster_names",
    "with_cluster_domain",
]
