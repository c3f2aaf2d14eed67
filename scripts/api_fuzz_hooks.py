"""Schemathesis hooks for scripts/api-fuzz.sh: Tessera's batch uploads and exports are
JSON Lines (application/x-ndjson), which schemathesis does not know. Uploads are sent as the
text they are; an export is read line by line so each record is checked against the
document's ExportRecord schema."""

import json

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@schemathesis.deserializer("application/x-ndjson")
def json_lines(ctx, response):
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]
