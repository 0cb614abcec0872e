#!/usr/bin/env python3
"""A minimal read-only Kubernetes API on 127.0.0.1, for `helm template
--dry-run=server`, so that the chart's `lookup` calls can be exercised offline.

  fake_kube_api.py PORTFILE OBJECT.json...

Serves discovery for the kinds the chart renders, GET of the given objects,
empty lists, 404 for anything else. Binds an ephemeral port, writes it to
PORTFILE, and exits by itself after 120 s at the latest.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {  # groupVersion -> [(plural, Kind, namespaced)]
    "v1": [("secrets", "Secret", True), ("configmaps", "ConfigMap", True),
           ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True),
           ("namespaces", "Namespace", False)],
    "apps/v1": [("deployments", "Deployment", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [
        ("roles", "Role", True), ("rolebindings", "RoleBinding", True),
        ("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False)],
    "admissionregistration.k8s.io/v1": [
        ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
        ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "cert-manager.io/v1": [("issuers", "Issuer", True), ("certificates", "Certificate", True)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
}
KIND = {plural: kind for rs in RESOURCES.values() for plural, kind, _ in rs}


def main():
    portfile, paths = sys.argv[1], sys.argv[2:]
    objects = {}
    for path in paths:
        with open(path) as f:
            o = json.load(f)
        objects[(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])] = o

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            p = self.path.split("?")[0].rstrip("/")
            if p == "/version":
                return self.send(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
            if p == "/api":
                return self.send(200, {"kind": "APIVersions", "versions": ["v1"],
                                       "serverAddressByClientCIDRs": []})
            if p == "/apis":
                groups = []
                for gv in RESOURCES:
                    if "/" in gv:
                        g, v = gv.split("/")
                        ver = {"groupVersion": gv, "version": v}
                        groups.append({"name": g, "versions": [ver], "preferredVersion": ver})
                return self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            gv = p[len("/api/"):] if p.startswith("/api/") else p[len("/apis/"):]
            if gv in RESOURCES:
                return self.send(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                    {"name": n, "singularName": k.lower(), "namespaced": ns, "kind": k,
                     "verbs": ["get", "list"]} for n, k, ns in RESOURCES[gv]]})
            parts = p.split("/")
            ns = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-2] else None
            key = (KIND.get(parts[-2], ""), ns, parts[-1]) if len(parts) > 2 else None
            if key in objects:
                return self.send(200, objects[key])
            if parts[-1] in KIND:
                return self.send(200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []})
            return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                   "reason": "NotFound", "code": 404})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Timer(120, server.shutdown).start()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(portfile + ".tmp", portfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
