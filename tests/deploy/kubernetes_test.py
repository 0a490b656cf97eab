#!/usr/bin/python3
"""deploy/kubernetes/*.yaml against the Kubernetes API models (Debian's
python3-kubernetes), loaded strictly: every key must be a field of its
model, every value of the field's type, required fields present. Then what
Rack needs of them: probes on the admin port, the drain fitting inside
terminationGracePeriodSeconds, a read-only root with RACK_HOME on an
emptyDir, no app log files (their lines go to the container's stdout),
scrape annotations on the admin listener.

  kubernetes_test.py SOURCE_DIR
"""
import os
import re
import sys

import yaml
from kubernetes import client

MODELS = {("apps/v1", "Deployment"): "V1Deployment", ("v1", "Service"): "V1Service",
          ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget", ("v1", "ConfigMap"): "V1ConfigMap"}
PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def strict(value, type_name, path):
    """Raises ValueError naming the path of the first key or value the model does not have."""
    if type_name in PRIMITIVES:
        if type_name == "int" and isinstance(value, bool) or not isinstance(value, PRIMITIVES[type_name]):
            raise ValueError(f"{path}: expected {type_name}, got {value!r}")
        return
    if type_name == "object":
        return  # IntOrString, Quantity: the API accepts either
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a list")
        for i, v in enumerate(value):
            strict(v, m.group(1), f"{path}[{i}]")
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected a map")
        for k, v in value.items():
            strict(v, m.group(1), f"{path}.{k}")
        return
    cls = getattr(client.models, type_name)
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a {type_name} map, got {value!r}")
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, v in value.items():
        if key not in by_json:
            raise ValueError(f"{path}.{key}: not a field of {type_name}")
        strict(v, cls.openapi_types[by_json[key]], f"{path}.{key}")


def required(doc, type_name):
    """The client's own deserializer: its models refuse a required field left out."""
    client.ApiClient()._ApiClient__deserialize(doc, type_name)


def load(source):
    docs = {}
    d = os.path.join(source, "deploy/kubernetes")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(open(os.path.join(d, name))):
            key = (doc["apiVersion"], doc["kind"])
            assert key in MODELS, f"{name}: unexpected {key}"
            strict(doc, MODELS[key], f"{name}:{doc['kind']}")
            required(doc, MODELS[key])
            docs[doc["kind"]] = doc
    return docs


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)", str(text))
    assert m, text
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def check(docs):
    dep, svc, pdb, cm = docs["Deployment"], docs["Service"], docs["PodDisruptionBudget"], docs["ConfigMap"]
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    (c,) = spec["containers"]
    eco = yaml.safe_load(cm["data"]["ecosystem.yaml"])
    admin_port = int(eco["rack"]["admin"].rsplit(":", 1)[1])
    app_port = int(eco["apps"][0]["listen"].rsplit(":", 1)[1])
    assert eco["rack"]["admin"].startswith("0.0.0.0:"), "the kubelet probes the pod IP"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": app_port, "admin": admin_port}, ports
    # App lines reach `kubectl logs` through rackd's stdout; files in the
    # emptyDir would only grow (YAML 1.1 reads off as false).
    for app in eco["apps"]:
        assert app.get("logs", {}).get("dir") in (False, "off"), f"{app['name']}: logs.dir is not off"

    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "admin"}
    assert c["command"][:2] == ["rackd", "--no-daemon"]
    assert c["command"][2] == "/etc/rack/ecosystem.yaml"

    # The drain fits: readiness fails within one probe period, the apps
    # serve through shutdown_delay, then drain within kill_timeout.
    delay = seconds(eco["rack"]["shutdown_delay"])
    kill = seconds(eco["apps"][0].get("kill_timeout", "5s"))
    probe = c["readinessProbe"]["periodSeconds"] * c["readinessProbe"]["failureThreshold"]
    assert probe < delay, "the pod must leave the endpoints before the apps drain"
    assert delay + kill + 5 <= spec["terminationGracePeriodSeconds"]

    home = next(e["value"] for e in c["env"] if e["name"] == "RACK_HOME")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts[home]], "RACK_HOME on an emptyDir"
    assert volumes[mounts["/etc/rack"]]["configMap"]["name"] == cm["metadata"]["name"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert "limits" in c["resources"] and "requests" in c["resources"]

    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert int(ann["prometheus.io/port"]) == admin_port and ann["prometheus.io/path"] == "/metrics"
    # The Prometheus job for pods honours exactly these annotations and
    # labels what it scrapes job="rack", which the rules select on.
    with open(os.path.join(sys.argv[1], "deploy/prometheus/prometheus-kubernetes.yml")) as f:
        prom = yaml.safe_load(f)
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "rack-kubernetes")
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    sources = {tuple(r.get("source_labels", [])): r for r in job["relabel_configs"]}
    keep = sources[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
    assert keep["action"] == "keep" and keep["regex"] == ann["prometheus.io/scrape"]
    assert sources[("__meta_kubernetes_pod_annotation_prometheus_io_path",)]["target_label"] == "__metrics_path__"
    assert sources[("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port")]["target_label"] == "__address__"
    assert sources[()] == {"target_label": "job", "replacement": "rack"}
    with open(os.path.join(sys.argv[1], "deploy/prometheus/rules.yml")) as f:
        assert 'up{job="rack"}' in f.read()

    labels = pod["metadata"]["labels"]
    for sel in (dep["spec"]["selector"]["matchLabels"], svc["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert all(labels.get(k) == v for k, v in sel.items()), sel
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


def main():
    docs = load(sys.argv[1])
    check(docs)
    # The strict loader refuses what the models do not know.
    for bad, why in [({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                       "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}},
                      "imagee"),
                     ({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": "80"}]}}, "expected int")]:
        try:
            strict(bad, MODELS[(bad["apiVersion"], bad["kind"])], "bad")
        except ValueError as e:
            assert why in str(e), e
        else:
            raise AssertionError(f"accepted {bad}")
    try:
        required({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {}}}, "V1Deployment")
    except ValueError as e:
        assert "selector" in str(e), e
    else:
        raise AssertionError("a Deployment without a selector was accepted")
    print("ok", sorted(docs))


if __name__ == "__main__":
    main()
