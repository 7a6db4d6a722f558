"""Qdrant's own shard engine (PyPI qdrant-edge-py, installed by scripts/bootstrap.sh into
.tools/qdrant-edge) for the Qdrant tests: `build` makes a real shard with Qdrant's code, `check`
unpacks a shard snapshot with Qdrant's code (EdgeShard.unpack_snapshot), loads it and prints what it
holds as JSON. Used by test/qdrant-edge.test.ts."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..', '.tools', 'qdrant-edge'))
from qdrant_edge import (  # noqa: E402
    Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams, Point, ScrollRequest, SparseVector, UpdateOperation,
)


def build(path, points_file):
    points = json.load(open(points_file))
    config = EdgeConfig(vectors={'text': EdgeVectorParams(size=4, distance=Distance.Dot)}, sparse_vectors={'words': EdgeSparseVectorParams()})
    shard = EdgeShard.create(path, config)
    shard.update(UpdateOperation.upsert_points([
        Point(p['id'], {'text': p['text'], 'words': SparseVector(indices=p['words']['indices'], values=p['words']['values'])}, p['payload'])
        for p in points
    ]))
    shard.flush()
    shard.close()


def check(snapshot, target):
    EdgeShard.unpack_snapshot(snapshot, target)
    shard = EdgeShard.load(target)
    records, _ = shard.scroll(ScrollRequest(limit=10_000, with_payload=True, with_vector=False))
    print(json.dumps({'points': shard.info().points_count, 'ids': sorted(r.id for r in records), 'payloads': {str(r.id): r.payload for r in records}}))
    shard.close()


if __name__ == '__main__':
    {'build': build, 'check': check}[sys.argv[1]](*sys.argv[2:])
