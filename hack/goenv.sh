# Sourced by every script that runs the go command, and read by the Makefile: the one build
# configuration of this repository. Tests, go vet, staticcheck, fuzzing, the plugin binaries and
# the stack's components are all built static (CGO_ENABLED=0) and path-trimmed (-trimpath), as
# the shipped binaries are. The go command keys its build cache on both, so with one
# configuration a package compiled by one step (lint, say) is reused by every later one instead
# of being compiled again under other flags: on a fresh machine that is one compile of the
# module's dependency graph fewer.
export CGO_ENABLED=0
_goflags=${GOFLAGS-$(go env GOFLAGS)}
case " $_goflags " in
*" -trimpath "*) ;;
*) _goflags="-trimpath${_goflags:+ $_goflags}" ;;
esac
export GOFLAGS=$_goflags
unset _goflags
