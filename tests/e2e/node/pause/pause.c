/*
 * sg-pause: the pod sandbox ("pause") program of the end-to-end suite's real
 * node. containerd starts it as the first process of every pod sandbox; it
 * holds the pod's namespaces open and does nothing else.
 *
 * Contract: as PID 1 of a pod it reaps every child that is reparented to it
 * (so zombies of containers sharing the PID namespace do not pile up) and
 * exits 0 on SIGTERM or SIGINT, so the runtime can stop the sandbox without
 * falling back to SIGKILL. It takes no arguments, reads no input and
 * writes nothing unless a system call fails. Not as PID 1 it reaps only its
 * own children (the harness also uses it as a do-nothing fd holder).
 *
 * Built statically (gcc -static) by tests/e2e/node/build.sh and packed into
 * a local OCI image, because no registry with the upstream pause image can
 * be reached from the test machines.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	sigset_t set;
	int sig = 0;

	/*
	 * Block the signals we wait for, so they are taken synchronously by
	 * sigwait below and never interrupt anything else.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("sg-pause: sigprocmask");
		return 1;
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
		/* SIGCHLD: reap everything that has exited, never block. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
