// Package app assembles the binaries. It holds each binary's settings (which environment
// variables it reads, their defaults — written once, in defaults.go — and their validation),
// and the constructors that build the parts a binary may run from them: the front door, the
// dispatcher's signal group and conversation workers, the headband simulator, the embedded
// broker of standalone mode. Main loads the settings, lets a binary choose its parts, and runs
// them with internal/lifecycle, so startup, readiness and shutdown are the same everywhere.
//
// cmd/frontdoor, cmd/dispatcher, cmd/headband and cmd/standalone are thin mains over this
// package: standalone runs the very same parts as the others, on the embedded broker and the
// store it chooses. Domain packages know nothing of it; it is the only place that knows them
// all.
package app
