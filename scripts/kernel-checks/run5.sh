set -e
NS=dmf_ns
ip netns add $NS
ip netns exec $NS sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n $NS link add in0 type veth peer name in1
ip -n $NS link add t1a type veth peer name t1b
ip -n $NS link add t2a type veth peer name t2b
ip -n $NS link add t3a type veth peer name t3b
for d in in0 in1 t1a t1b t2a t2b t3b; do ip -n $NS link set $d up; done
./redir
