package main

// The cloud bucket drivers that archive and backup URLs may name (s3://,
// gs://, azblob://). Only the binary links them: the packages that open
// buckets (internal/archive, internal/backup) know gocloud.dev/blob alone.
import (
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)
