"""A third-party gRPC client (Python grpcio) reading a screen from a running hub.

Usage: screen.py HOST:PORT STUBS_DIR MEMBER_ID SELLER_ID ITEMS

STUBS_DIR holds the stubs grpc_tools.protoc generated from the checked-in
examples/datahub/proto/datahub.query.v1.proto. grpcio sends protobuf and accepts only
protobuf; the screen it decodes is printed as one summary line, `SCREEN ...`, for the Rust test
to compare with what its own callers got in postcard and JSON.
"""

import sys

sys.path.insert(0, sys.argv[2])

import grpc  # noqa: E402

from datahub.query import v1_pb2 as pb  # noqa: E402
from datahub.query import v1_pb2_grpc as pb_grpc  # noqa: E402

address, member_id, seller_id, items = sys.argv[1], *map(int, sys.argv[3:6])
channel = grpc.insecure_channel(address)
query = pb_grpc.QueryStub(channel)
screen, call = query.Screen.with_call(
    pb.ScreenRequest(member_id=member_id, seller_id=seller_id, items=items), timeout=10
)
versions = ",".join(f"{v.key}={v.version}" for v in screen.versions)
items = ",".join(str(i.item.item_id) for i in screen.items)
benefits = ",".join(str(b.benefit_id) for b in screen.benefits)
print(
    f"SCREEN member={screen.member.member.name} balance={screen.points.balance} "
    f"history={len(screen.history)} benefits={benefits} seller={screen.seller.name} "
    f"items={items} versions={versions} bytes={screen.ByteSize()}"
)
