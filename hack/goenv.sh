# Sourced by every script that runs the go command, and read by the Makefile: the one build
# configuration of this repository. Tests, go vet, staticcheck, fuzzing, the plugin binaries and
# the stack's components are all built static (CGO_ENABLED=0) and path-trimmed (-trimpath), as
# the shipped binaries are. The go command keys its build cache on both, so with one
# configuration a package compiled by one step (lint, say) is reused by every later one instead
# of being compiled again under other flags: on a fresh machine that is one compile of the
# module's dependency graph fewer.
#
# Nothing is compiled with DWARF debug information (-gcflags=all=-dwarf=false): the shipped
# binaries drop it anyway (-ldflags "-s -w"), and not generating it saves about 9% of every
# compile (BENCHMARKS.md, "Fresh machine"). To debug a test binary with a debugger, put a
# -gcflags of your own in GOFLAGS: this file adds its own only when GOFLAGS has none.
export CGO_ENABLED=0
_goflags=${GOFLAGS-$(go env GOFLAGS)}
case " $_goflags " in
*" -trimpath "*) ;;
*) _goflags="-trimpath${_goflags:+ $_goflags}" ;;
esac
case " $_goflags " in
*" -gcflags="*) ;;
*) _goflags="$_goflags -gcflags=all=-dwarf=false" ;;
esac
export GOFLAGS=$_goflags
unset _goflags
