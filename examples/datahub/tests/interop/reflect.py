"""A grpcurl-style call: no stubs, only server reflection.

Usage: reflect.py HOST:PORT SERVICE METHOD JSON_REQUEST

Lists the services the server reflects, builds the request and response types of
SERVICE/METHOD from the descriptors the server sends, calls it with the request given as
JSON (protobuf's JSON mapping) and prints `SERVICES a,b,c` and `REPLY {json}`.
"""

import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

address, service, method, request_json = sys.argv[1:5]
channel = grpc.insecure_channel(address)
database = ProtoReflectionDescriptorDatabase(channel)
print("SERVICES " + ",".join(sorted(database.get_services())))
pool = descriptor_pool.DescriptorPool(database)
m = pool.FindServiceByName(service).FindMethodByName(method)
request_type = message_factory.GetMessageClass(m.input_type)
response_type = message_factory.GetMessageClass(m.output_type)
call = channel.unary_unary(
    f"/{service}/{method}",
    request_serializer=request_type.SerializeToString,
    response_deserializer=response_type.FromString,
)
reply = call(json_format.Parse(request_json, request_type()), timeout=10)
print("REPLY " + json_format.MessageToJson(reply, indent=None))
