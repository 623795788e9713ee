"""A real third-party gRPC client (Python grpcio) calling a running arpc server.

Usage: client.py HOST:PORT STUBS_DIR [CASE,CASE,...]

STUBS_DIR holds the stubs grpc_tools.protoc generated from examples/hello/proto/hello.v1.proto
(the checked-in .proto that arpc-codegen emits). Cases are named after the gRPC interop suite.
Prints one line per case, `PASS name` or `FAIL name: why`; exits 1 if any failed. With a third
argument, runs only the named cases, in that order.
"""

import sys
import time
import traceback

sys.path.insert(0, sys.argv[2])

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2  # noqa: E402
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (  # noqa: E402
    ProtoReflectionDescriptorDatabase,
)

from hello import v1_pb2 as pb  # noqa: E402
from hello import v1_pb2_grpc as pb_grpc  # noqa: E402

ADDRESS = sys.argv[1]
MAX_MESSAGE = 4 * 1024 * 1024
channel = grpc.insecure_channel(ADDRESS)
greeter = pb_grpc.GreeterStub(channel)
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def expect_error(call, code):
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() == code, f"expected {code}, got {e.code()}: {e.details()!r}"
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


@case
def empty_unary():
    reply = greeter.Ping(pb.Empty(), timeout=10)
    assert isinstance(reply, pb.Empty) and reply.ByteSize() == 0


@case
def large_unary():
    reply = greeter.Echo(
        pb.EchoRequest(payload=b"\0" * 271828, response_size=314159), timeout=10
    )
    assert len(reply.payload) == 314159, len(reply.payload)
    assert reply.payload == b"\0" * 314159


def compressed_large_unary(compression):
    """large_unary on a channel of its own whose requests go out compressed (each message,
    with `grpc-encoding` naming the algorithm)."""
    with grpc.insecure_channel(ADDRESS, compression=compression) as compressed:
        stub = pb_grpc.GreeterStub(compressed)
        for _ in range(2):
            reply = stub.Echo(
                pb.EchoRequest(payload=b"\0" * 271828, response_size=314159), timeout=10
            )
            assert len(reply.payload) == 314159, len(reply.payload)
            assert reply.payload == b"\0" * 314159


@case
def gzip_unary():
    compressed_large_unary(grpc.Compression.Gzip)


@case
def deflate_unary():
    compressed_large_unary(grpc.Compression.Deflate)


@case
def say_hello():
    reply = greeter.SayHello(pb.HelloRequest(name="Python", reply_padding=3), timeout=10)
    assert reply.message == "Hello, Python!", reply.message
    assert reply.padding == "xxx"


@case
def status_code_and_message():
    message = "test status message"
    e = expect_error(
        lambda: greeter.Echo(
            pb.EchoRequest(status=pb.EchoStatus(code=2, message=message)), timeout=10
        ),
        grpc.StatusCode.UNKNOWN,
    )
    assert e.details() == message, repr(e.details())


@case
def special_status_message():
    message = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
    e = expect_error(
        lambda: greeter.Echo(
            pb.EchoRequest(status=pb.EchoStatus(code=2, message=message)), timeout=10
        ),
        grpc.StatusCode.UNKNOWN,
    )
    assert e.details() == message, repr(e.details())


@case
def unimplemented_method():
    call = channel.unary_unary("/hello.v1.Greeter/UnimplementedCall")
    expect_error(lambda: call(b"", timeout=10), grpc.StatusCode.UNIMPLEMENTED)


@case
def unimplemented_service():
    call = channel.unary_unary("/hello.v1.UnimplementedService/UnimplementedCall")
    expect_error(lambda: call(b"", timeout=10), grpc.StatusCode.UNIMPLEMENTED)


@case
def timeout_on_sleeping_server():
    start = time.monotonic()
    expect_error(
        lambda: greeter.Echo(pb.EchoRequest(delay_ms=5000), timeout=0.2),
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )
    elapsed = time.monotonic() - start
    assert elapsed < 3, f"took {elapsed:.2f}s to time out"


@case
def custom_metadata():
    initial = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
    trailing = ("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b")
    request = pb.EchoRequest(payload=b"\0" * 271828, response_size=314159)
    reply, call = greeter.Echo.with_call(request, metadata=[initial, trailing], timeout=10)
    assert len(reply.payload) == 314159
    assert initial in call.initial_metadata(), call.initial_metadata()
    assert trailing in call.trailing_metadata(), call.trailing_metadata()
    # An error answer is trailers-only: both come back in its trailing metadata.
    failing = pb.EchoRequest(status=pb.EchoStatus(code=9, message="no"))
    e = expect_error(
        lambda: greeter.Echo(failing, metadata=[initial, trailing], timeout=10),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert initial in e.trailing_metadata(), e.trailing_metadata()
    assert trailing in e.trailing_metadata(), e.trailing_metadata()


@case
def cancel_after_begin():
    future = greeter.Echo.future(pb.EchoRequest(delay_ms=5000), timeout=30)
    time.sleep(0.2)
    assert future.cancel(), "the call could not be cancelled"
    assert future.cancelled()
    try:
        future.result()
        raise AssertionError("a cancelled call returned a result")
    except grpc.FutureCancelledError:
        pass
    # The server is unharmed.
    greeter.Ping(pb.Empty(), timeout=10)


@case
def oversized_request():
    e = expect_error(
        lambda: greeter.Echo(pb.EchoRequest(payload=b"\0" * (MAX_MESSAGE + 1)), timeout=30),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert "request" in e.details(), e.details()


@case
def health_check():
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for service in ["", "hello.v1.Greeter"]:
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == serving, (service, reply.status)
    expect_error(
        lambda: health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10),
        grpc.StatusCode.NOT_FOUND,
    )


def descriptor_proto(descriptor):
    """The message's DescriptorProto without `json_name`s: protoc's Python output leaves them
    out of its serialized descriptors, while arpc sets them (as protoc's descriptor sets do);
    they are compared separately, through the descriptor objects."""
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    for field in proto.field:
        field.ClearField("json_name")
    for nested in proto.nested_type:
        for field in nested.field:
            field.ClearField("json_name")
    return proto


@case
def reflection_v1alpha_list_and_describe():
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    expected = {
        "hello.v1.Greeter",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert expected <= services, services
    pool = descriptor_pool.DescriptorPool(database)
    reflected = pool.FindServiceByName("hello.v1.Greeter")
    generated = pb.DESCRIPTOR.services_by_name["Greeter"]
    got = [(m.name, m.input_type.full_name, m.output_type.full_name) for m in reflected.methods]
    want = [(m.name, m.input_type.full_name, m.output_type.full_name) for m in generated.methods]
    assert got == want, (got, want)
    # Every message, field by field, as protoc compiled it from the checked-in .proto.
    for name, message in pb.DESCRIPTOR.message_types_by_name.items():
        reflected_message = pool.FindMessageTypeByName(message.full_name)
        from_server = descriptor_proto(reflected_message)
        from_protoc = descriptor_proto(message)
        assert from_server == from_protoc, f"{name}:\n{from_server}\n!=\n{from_protoc}"
        json_names = [f.json_name for f in reflected_message.fields]
        assert json_names == [f.json_name for f in message.fields], (name, json_names)


@case
def reflection_v1_list():
    # grpcio-reflection ships v1alpha client stubs only; v1's messages are the same on the wire.
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="hello.v1.Greeter"),
    ]
    responses = list(call(iter(requests), timeout=10))
    assert len(responses) == 2, responses
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"hello.v1.Greeter", "grpc.reflection.v1.ServerReflection"} <= names, names
    files = responses[1].file_descriptor_response.file_descriptor_proto
    assert files, responses[1]
    file = descriptor_pb2.FileDescriptorProto.FromString(files[0])
    assert file.package == "hello.v1", file.package
    assert [s.name for s in file.service] == ["Greeter"], file.service


def main():
    grpc.channel_ready_future(channel).result(timeout=10)
    failed = 0
    cases = CASES
    if len(sys.argv) > 3:
        by_name = {fn.__name__: fn for fn in CASES}
        cases = [by_name[name] for name in sys.argv[3].split(",")]
    for fn in cases:
        try:
            fn()
            print(f"PASS {fn.__name__}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every case
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {fn.__name__}: {detail}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
