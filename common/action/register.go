package action

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
	"k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

// Kind is how an action is served to Velero.
type Kind string

// The kinds of action.
const (
	KindBackup    Kind = "BackupItemActionV2"
	KindRestore   Kind = "RestoreItemAction"
	KindRestoreV2 Kind = "RestoreItemActionV2"
	KindItemBlock Kind = "ItemBlockAction"
	KindDelete    Kind = "DeleteItemAction"
)

// Registration is one row of a plugin binary's registration table.
type Registration struct {
	Name string
	Kind Kind
	New  func(env Env) (any, error)
}

// ItemBlockActionsEnv switches item block actions off when "false": Velero servers before 1.15
// reject a plugin binary that lists a kind they do not know.
const ItemBlockActionsEnv = "OPENSHIFT_VELERO_PLUGIN_ITEM_BLOCK_ACTIONS"

// Wrap builds the guarded Velero action for a registration, for Serve and for tests that drive
// actions exactly as Velero would.
func Wrap(r Registration, env Env) (any, error) {
	a, err := r.New(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	g := guard{name: r.Name, config: env.Config, log: env.Log}
	switch r.Kind {
	case KindBackup:
		b, ok := a.(BackupAction)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not a backup action", r.Name, a)
		}
		return &GuardedBackup{guard: g, action: b}, nil
	case KindRestore, KindRestoreV2:
		ra, ok := a.(RestoreAction)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not a restore action", r.Name, a)
		}
		return &GuardedRestore{guard: g, action: ra}, nil
	case KindItemBlock:
		ib, ok := a.(ItemBlockAction)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not an item block action", r.Name, a)
		}
		return &GuardedItemBlock{guard: g, action: ib}, nil
	case KindDelete:
		d, ok := a.(DeleteAction)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not a delete action", r.Name, a)
		}
		return &GuardedDelete{guard: g, action: d}, nil
	}
	return nil, fmt.Errorf("%s: unknown kind %q", r.Name, r.Kind)
}

// ProcessEnv builds the process-wide, lazily connecting dependencies of a plugin binary.
type ProcessEnv struct {
	clients *clients.Set

	once         sync.Once
	config       *config.Loader
	facts        *clusterfacts.Provider
	pullSecrets  *pullsecret.Finder
	factWarnings FactWarnings
}

// NewProcessEnv returns dependencies for the cluster the process runs against.
func NewProcessEnv(set *clients.Set) *ProcessEnv {
	return &ProcessEnv{clients: set}
}

// Env returns the Env for an action, logging through log (the first action's logger is also the
// one the shared config loader and facts provider log through).
func (p *ProcessEnv) Env(log logrus.FieldLogger) Env {
	p.once.Do(func() {
		p.config = config.NewLoader(func() (v1.ConfigMapsGetter, error) {
			k, err := p.clients.Kube()
			if err != nil {
				return nil, err
			}
			return k.CoreV1(), nil
		}, log)
		p.facts = clusterfacts.NewProvider(func() (clusterfacts.Clients, error) {
			var c clusterfacts.Clients
			var err error
			if c.Kube, err = p.clients.Kube(); err != nil {
				return c, err
			}
			c.Config, _ = p.clients.Config()
			c.Image, _ = p.clients.Image()
			c.ImageRegistry, _ = p.clients.ImageRegistry()
			return c, nil
		}, log)
		if k, err := p.clients.Kube(); err == nil {
			p.pullSecrets = &pullsecret.Finder{Client: k.CoreV1()}
		}
	})
	return Env{Log: log, Facts: p.facts, Config: p.config, Clients: p.clients, PullSecrets: p.pullSecrets, FactWarnings: &p.factWarnings}
}

// Command is a subcommand of a plugin binary, for what an administrator runs by hand with the
// plugin image (e.g. undoing a migration's quiesce without the controller). Run gets the
// arguments after the name and returns the process exit code.
type Command struct {
	Name, Usage string
	Run         func(args []string) int
}

// ParseCommandArgs parses a command's flags, which take no positional arguments. ok is false when
// the command is to end with code: 0 for --help, 2 for a bad flag or an extra argument (with the
// error and the flag set's usage on stderr).
func ParseCommandArgs(fs *pflag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0, false
		}
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// runCommand runs the command whose Name is args[0]; ran is false when there is none. Velero
// starts a plugin binary with flags (--log-level ...), never with a bare word, so a command name
// cannot be mistaken for Velero's invocation.
func runCommand(args []string, commands []Command) (code int, ran bool) {
	if len(args) == 0 {
		return 0, false
	}
	for _, c := range commands {
		if c.Name != "" && args[0] == c.Name && c.Run != nil {
			return c.Run(args[1:]), true
		}
	}
	return 0, false
}

// Serve registers every row of the table with Velero's plugin framework and serves it. When the
// first argument names one of the commands, that command runs instead and its code is the exit
// status. Run by hand outside Velero with anything else it prints the framework's message and
// exits non-zero.
func Serve(table []Registration, commands ...Command) {
	if code, ran := runCommand(os.Args[1:], commands); ran {
		os.Exit(code)
	}
	server := framework.NewServer().BindFlags(pflag.CommandLine)
	penv := NewProcessEnv(clients.New())
	itemBlocks := true
	if v, err := strconv.ParseBool(os.Getenv(ItemBlockActionsEnv)); err == nil {
		itemBlocks = v
	}
	for _, r := range table {
		r := r
		init := func(log logrus.FieldLogger) (any, error) { return Wrap(r, penv.Env(log)) }
		switch r.Kind {
		case KindBackup:
			server.RegisterBackupItemActionV2(r.Name, init)
		case KindRestore:
			server.RegisterRestoreItemAction(r.Name, init)
		case KindRestoreV2:
			server.RegisterRestoreItemActionV2(r.Name, init)
		case KindItemBlock:
			if itemBlocks {
				server.RegisterItemBlockAction(r.Name, init)
			}
		case KindDelete:
			server.RegisterDeleteItemAction(r.Name, init)
		}
	}
	server.Serve()
}
