// Command sg-controlplane is a multi-call binary holding the control-plane
// components the end-to-end suite runs on 127.0.0.1: etcd, kube-apiserver,
// kube-controller-manager (only for the scenario that deploys the
// manifests: Deployments, EndpointSlices, PodDisruptionBudgets) and
// kube-scheduler, built from their upstream entry points.
//
// The component is chosen by argv[1] (`sg-controlplane kube-apiserver ...`)
// or, when the binary is invoked through a link, by the name it was called
// with (`kube-apiserver ...`).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s {etcd|kube-apiserver|kube-controller-manager|kube-scheduler} [flags...]\n", filepath.Base(os.Args[0]))
	os.Exit(2)
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if !known(name) {
		if len(args) == 0 || !known(args[0]) {
			usage()
		}
		name, args = args[0], args[1:]
	}
	switch name {
	case "etcd":
		// etcdmain reads flags from args[1:].
		etcdmain.Main(append([]string{"etcd"}, args...))
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	}
}

func known(name string) bool {
	for _, c := range components {
		if c == name {
			return true
		}
	}
	return false
}
