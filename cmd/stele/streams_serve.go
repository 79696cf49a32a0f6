package main

import (
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/stream"
)

// serveStreams is serve's streams: the service behind /v1/streams and the
// console's Streams page, and the forwarder, the "streams" job that the
// leading node runs (jobs.go).
type serveStreams struct {
	service   *stream.Service
	forwarder *stream.Forwarder
}

func newServeStreams(a *app) *serveStreams {
	f := &stream.Forwarder{Store: a.db, Keys: a.keyring, Audit: a.audit, Logger: a.logger, Wake: a.writer.NextCommit,
		Options: forward.Options{Logger: a.logger}, Retention: a.search}
	return &serveStreams{forwarder: f,
		service: &stream.Service{Store: a.db, Secrets: a.keyring, Audit: a.audit, Changed: f.Poke}}
}
