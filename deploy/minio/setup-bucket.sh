#!/bin/sh
# One-shot: the bucket idri keeps case documents in (IDRI_S3_BUCKET), private, versioned so an
# object overwritten by mistake can be recovered. Idempotent: an existing bucket is kept.
set -eu

bucket="${IDRI_S3_BUCKET:-idri-documents}"

for attempt in $(seq 1 30); do
  if mc alias set idri http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null; then
    break
  fi
  echo "waiting for MinIO ($attempt)"
  sleep 2
done

mc mb --ignore-existing "idri/$bucket"
mc anonymous set none "idri/$bucket"
mc version enable "idri/$bucket"
echo "bucket $bucket ready"
