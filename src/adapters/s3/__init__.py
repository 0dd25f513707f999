"""S3-compatible object storage (AWS S3, Cloudflare R2, MinIO) through aiobotocore."""
