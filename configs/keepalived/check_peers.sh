#!/bin/bash
# keepalived's second track script: does this host still reach any other load balancer?
# Arguments: HAProxy's stats port, then the peers' addresses. A host cut off the network
# keeps the VIP on its side and keepalived's weight lowers its priority below every
# peer's, so that at the reconnect the host which served during the cut keeps the VIP
# instead of losing it back to this one (requests sent there in between would hang).
# Every peer is tried at once, each for at most a second: an unreachable peer costs the
# timeout, and keepalived runs this every second.
port=$1
shift
for peer in "$@"; do
    timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$peer" "$port" 2>/dev/null &
done
for _ in "$@"; do
    wait -n && exit 0
done
exit 1
