%% kolla-ha: replaces unblock_global_peer/1 of RabbitMQ 3.10.8's rabbit_node_monitor.
%%
%% A node that pause_minority stopped restarts RabbitMQ once the partition heals; the
%% restart waits in global:sync(), and when `global` on a peer is stuck after the
%% partition, this workaround sends global fake nodedown/nodeup events to unstick it.
%% Since OTP 25.1, global matches only {nodedown | nodeup, Node, #{connection_id => Id}}
%% and drops the two-element events 3.10.8 sends; on bookworm's OTP 25.2 the restart
%% then waits for ever ("booting", running nodes none; seen in the lab after a 40 s
%% isolation). The events below carry the connection id global knows for the link.
unblock_global_peer(PeerNode) ->
    ThisNode = node(),
    PeerStatus = rpc:call(PeerNode, sys, get_status, [global_name_server]),
    ThisStatus = sys:get_status(global_name_server),
    ThisToPeer = known_connection_id(ThisStatus, PeerNode),
    PeerToThis = known_connection_id(PeerStatus, ThisNode),
    logger:info(
      "Global hang workaround: global state on ~s seems broken; faking nodedown/nodeup "
      "between ~s (connection id ~p) and ~s (connection id ~p)",
      [PeerNode, PeerNode, PeerToThis, ThisNode, ThisToPeer]),
    {global_name_server, ThisNode} ! global_event(nodedown, PeerNode, ThisToPeer),
    {global_name_server, PeerNode} ! global_event(nodedown, ThisNode, PeerToThis),
    {global_name_server, ThisNode} ! global_event(nodeup, PeerNode, ThisToPeer),
    {global_name_server, PeerNode} ! global_event(nodeup, ThisNode, PeerToThis),
    ok.

%% global's state record keeps, in its third element, a map with the connection id of
%% every node it knows ({connection_id, Node} => Id); OTP before 25.1 has none.
known_connection_id({status, _Pid, _Module, [_, _, _, _, Misc]}, Node) ->
    case [State || {data, [{"State", State}]} <- Misc] of
        [State] when element(1, State) =:= state, is_map(element(3, State)) ->
            maps:get({connection_id, Node}, element(3, State), undefined);
        _ ->
            undefined
    end;
known_connection_id(_Unreachable, _Node) ->
    undefined.

global_event(Event, Node, undefined) ->
    {Event, Node};
global_event(Event, Node, ConnectionId) ->
    {Event, Node, #{connection_id => ConnectionId}}.

