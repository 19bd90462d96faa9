"""A gRPC client built on gRPC's C core (Debian's python3-grpcio), driven by the interop tests.

Messages are raw bytes: the test serializes requests and decodes answers itself, so no generated
stubs are needed. The job comes as one JSON line on stdin; events and the result go to stdout as
JSON lines ({"event": ...} and finally {"result": ...}).

Scenarios:
  calls       the calls one after another on one channel (each `repeat` times, default once,
              each after `pause` seconds)
  concurrent  `count` copies of one call started at once (futures), all awaited
  keepalive   one call, `seconds` of quiet (with keepalive pings if the options ask for them), one
              more call; the channel's connectivity states over that time
  shutdown    `count` calls started, then {"event": "in_flight"}; after a line on stdin, `after`
              new calls; the first calls' outcomes and the new ones'
  cancel      `count` calls started, then {"event": "in_flight"}; after a line on stdin, all of
              them cancelled (RST_STREAM), then the `calls`; how many were cancelled, and the
              calls' outcomes
"""

import base64
import json
import sys
import time

import grpc


def emit(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def outcome(response=None, error=None, call=None):
    if error is not None:
        return {
            "code": error.code().name,
            "details": error.details(),
            "trailing_metadata": [list(m) for m in (error.trailing_metadata() or [])],
        }
    return {
        "code": "OK",
        "response": base64.b64encode(response).decode(),
        "initial_metadata": [list(m) for m in (call.initial_metadata() or [])],
        "trailing_metadata": [list(m) for m in (call.trailing_metadata() or [])],
    }


def invoke(channel, spec):
    time.sleep(spec.get("pause", 0))
    method = channel.unary_unary(spec["path"])
    try:
        response, call = method.with_call(
            base64.b64decode(spec["request"]),
            timeout=spec.get("timeout", 5),
            metadata=[tuple(m) for m in spec.get("metadata", [])],
            compression=grpc.Compression.Gzip if spec.get("gzip") else None,
        )
        return outcome(response=response, call=call)
    except grpc.RpcError as error:
        return outcome(error=error)


def start_futures(channel, spec, count):
    """Starts `count` copies of a call: unary, or server-streaming with "stream": true."""
    if spec.get("stream"):
        start = channel.unary_stream(spec["path"])
    else:
        start = channel.unary_unary(spec["path"]).future
    request = base64.b64decode(spec["request"])
    metadata = [tuple(m) for m in spec.get("metadata", [])]
    return [start(request, timeout=spec.get("timeout", 10), metadata=metadata) for _ in range(count)]


def settle(futures):
    results = []
    for future in futures:
        try:
            results.append(outcome(response=future.result(), call=future))
        except grpc.RpcError as error:
            results.append(outcome(error=error))
    return results


def main():
    job = json.loads(sys.stdin.readline())
    options = [tuple(o) for o in job.get("options", [])]
    channel = grpc.insecure_channel(job["target"], options=options)
    states = []
    channel.subscribe(lambda state: states.append(state.name), try_to_connect=True)
    grpc.channel_ready_future(channel).result(timeout=10)
    scenario = job["scenario"]
    if scenario == "calls":
        result = [invoke(channel, spec) for spec in job["calls"] for _ in range(spec.get("repeat", 1))]
    elif scenario == "concurrent":
        result = settle(start_futures(channel, job["call"], job["count"]))
    elif scenario == "keepalive":
        first = invoke(channel, job["call"])
        time.sleep(job["seconds"])
        result = {"calls": [first, invoke(channel, job["call"])], "states": list(states)}
    elif scenario == "shutdown":
        in_flight = start_futures(channel, job["call"], job["count"])
        emit({"event": "in_flight"})
        sys.stdin.readline()
        after = [invoke(channel, job["call"]) for _ in range(job["after"])]
        result = {"in_flight": settle(in_flight), "after": after, "states": list(states)}
    elif scenario == "cancel":
        in_flight = start_futures(channel, job["call"], job["count"])
        emit({"event": "in_flight"})
        sys.stdin.readline()
        cancelled = sum(1 for future in in_flight if future.cancel())
        result = {"cancelled": cancelled, "calls": [invoke(channel, spec) for spec in job["calls"]]}
    else:
        raise ValueError(f"unknown scenario {scenario}")
    emit({"result": result})
    channel.close()


if __name__ == "__main__":
    main()
