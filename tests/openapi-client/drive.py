"""Drives krog through a client that openapi-python-client generated from krog's /openapi.json.

Usage: drive.py OPENAPI_JSON CLIENT_PARENT_DIR BASE_URL ADMIN_KEY RECEIVER_URL EVENT_JSON

Each call is found the way a user of the generated client finds it: by the operation's
operationId (the generator's module name for it), with the body built by the generated model of
the operation's request body. Prints one JSON object: what each call answered.
"""

import importlib
import inspect
import json
import pathlib
import sys

from openapi_python_client.strings import snake_case

spec_path, parent, base_url, admin_key, receiver_url, event_path = sys.argv[1:7]
sys.path.insert(0, parent)
spec = json.loads(pathlib.Path(spec_path).read_text())
package = "krog_client"
client_module = importlib.import_module(package)
api_dir = pathlib.Path(parent, package, "api")


def operation(method, path):
    """The generated module of the operation at METHOD PATH."""
    op = spec["paths"][path][method]
    op_id = op.get("operationId")
    if not op_id:
        sys.exit(f"{method.upper()} {path} has no operationId")
    name = snake_case(op_id)
    found = sorted(api_dir.glob(f"*/{name}.py"))
    if not found:
        sys.exit(f"no generated module {name}.py for {method.upper()} {path}")
    tag = found[0].parent.name
    return importlib.import_module(f"{package}.api.{tag}.{name}")


def call(method, path, key, body=None, **params):
    """Calls the operation with the generated client; the status and the parsed answer."""
    module = operation(method, path)
    client = client_module.AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=False)
    kwargs = dict(params)
    if body is not None:
        annotation = inspect.signature(module.sync_detailed).parameters["body"].annotation
        if isinstance(annotation, str):
            annotation = eval(annotation, vars(module))
        model = getattr(annotation, "__args__", (annotation,))[0]
        kwargs["body"] = model.from_dict(body)
    response = module.sync_detailed(client=client, **kwargs)
    parsed = response.parsed
    if parsed is None or not hasattr(parsed, "to_dict"):
        sys.exit(
            f"{method.upper()} {path} answered {response.status_code} "
            f"{response.content[:300]!r}, which the generated client did not parse into a model"
        )
    return response.status_code.value, parsed


status_tenant, tenant = call("post", "/v1/tenants", admin_key, {"id": "generated", "name": "Klinik Generated"})
status_key, key = call("post", "/v1/tenants/{tenant}/keys", admin_key, {"name": "generated client"}, tenant=tenant.id)
status_sub, subscription = call(
    "post",
    "/v1/tenants/{tenant}/subscriptions",
    key.key,
    {
        "url": receiver_url,
        "event_types": ["booking.created"],
        "transform": {"module": "slack", "config": {"locale": "en"}},
    },
    tenant=tenant.id,
)
event = json.loads(pathlib.Path(event_path).read_text())
status_event, accepted = call("post", "/v1/tenants/{tenant}/events", key.key, event, tenant=tenant.id)
print(
    json.dumps(
        {
            "tenant": [status_tenant, tenant.id],
            "key": [status_key, bool(key.key)],
            "subscription": [status_sub, subscription.id, subscription.secret],
            "event": [status_event, accepted.id, accepted.deliveries],
        }
    )
)
