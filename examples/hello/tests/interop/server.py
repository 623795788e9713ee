"""A real third-party gRPC server (Python grpcio) for arpc's client to call.

Usage: server.py STUBS_DIR

STUBS_DIR holds the stubs grpc_tools.protoc generated from examples/hello/proto/hello.v1.proto
(the checked-in .proto that arpc-codegen emits). Serves hello.v1.Greeter on 127.0.0.1 on a
free port, with gzip as the default compression of its responses (grpcio reads and writes
gzip and deflate; it has no zstd). Prints `listening on 127.0.0.1:PORT`, then one line
`handled METHOD` each time a handler runs, and stops when its standard input closes.
"""

import sys
import threading
from concurrent import futures

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402

from hello import v1_pb2 as pb  # noqa: E402
from hello import v1_pb2_grpc as pb_grpc  # noqa: E402

MAX_MESSAGE = 4 * 1024 * 1024
lock = threading.Lock()


def say(line):
    with lock:
        print(line, flush=True)


class Greeter(pb_grpc.GreeterServicer):
    def SayHello(self, request, context):
        say("handled SayHello")
        return pb.HelloReply(message=f"Hello, {request.name}!", served_by="grpcio")

    def Ping(self, request, context):
        say("handled Ping")
        return pb.Empty()

    def Echo(self, request, context):
        say("handled Echo")
        # The request's payload back, or `response_size` bytes of text when it has none.
        if request.payload:
            return pb.EchoReply(payload=request.payload)
        text = b"grpcio answers in text that compresses well. "
        repeated = text * (request.response_size // len(text) + 1)
        return pb.EchoReply(payload=repeated[: request.response_size])


def main():
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        compression=grpc.Compression.Gzip,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ],
    )
    pb_grpc.add_GreeterServicer_to_server(Greeter(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    say(f"listening on 127.0.0.1:{port}")
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
