package stele

import "context"

// BucketCount is the number of an account's events of one category whose
// time falls in the bucket starting at Start (Unix µs).
type BucketCount struct {
	Start    int64
	Category string
	Count    int64
}

// EventCounter counts events for charts. The filters and time bounds are
// those of a RowQuery (its paging fields and limit are ignored); FieldText
// filters cannot be evaluated by a store and are ignored too.
type EventCounter interface {
	// CountByBucket groups the matching rows by time buckets of bucket µs
	// (aligned to the Unix epoch) and by category, in bucket order.
	CountByBucket(ctx context.Context, q RowQuery, bucket int64) ([]BucketCount, error)
}
