"""The lifecycle shell every jdd_ros node shares (rclpy.lifecycle, as ros2/demos' lifecycle talker).

A node declares its parameters from the schema when constructed; ``configure`` loads what it needs (a model) and
refuses with the one-line reason when it cannot; ``activate`` subscribes its inputs and enables its publishers;
``deactivate`` unsubscribes; ``cleanup`` releases the model. ``ros2 run`` and ``jdd-ros launch`` bring a node up by
themselves (``autostart``); a lifecycle manager can drive the transitions instead (``autostart:=false``).
Subclasses implement the ``configure``/``activate``/``deactivate``/``cleanup`` hooks and nothing of the state
machine.
"""

from __future__ import annotations

from collections.abc import Callable

from rclpy.event_handler import QoSMessageLostInfo
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle.publisher import LifecyclePublisher
from rclpy.publisher import Publisher
from rclpy.subscription import MessageInfo
from rclpy.type_support import Msg, MsgT

from jdd_ros.ros import qos
from jdd_ros.ros.adaptive_qos import AdaptiveSubscription
from jdd_ros.ros.parameters import NodeParameters

START_ERRORS = (ValueError, FileNotFoundError, RuntimeError)  # what a user fixes: said in one line, no traceback


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a KeyboardInterrupt (Ctrl-C, SIGTERM while starting) that Python wrapped in another error:
    raised inside a class's ``__set_name__`` it comes back as 'RuntimeError: Error calling __set_name__ ...'."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class ManagedNode(LifecycleNode):
    """A jdd_ros lifecycle node with the schema's parameters (``params.current``) and managed subscriptions."""

    def __init__(self, node_name: str, schema_name: str, **kwargs: object):
        super().__init__(node_name, **kwargs)
        self.params: NodeParameters = NodeParameters(self, schema_name)
        self.start_error = ''  # why the last configure failed
        self._inputs: list[AdaptiveSubscription[Msg]] = []

    # ---- what a node implements ------------------------------------------------------------------------------------

    def configure(self) -> None:
        """Load models, create publishers; raise one of START_ERRORS saying what to fix."""

    def activate(self) -> None:
        """Subscribe the inputs (with ``subscribe``) and start workers."""

    def deactivate(self) -> None:
        """Stop workers; the inputs are unsubscribed after this."""

    def cleanup(self) -> None:
        """Release what ``configure`` loaded."""

    def log_final_statistics(self) -> None:
        """Log the totals once, while the ROS context is still valid (at shutdown)."""

    # ---- helpers -------------------------------------------------------------------------------------------------

    def advertise(self, msg_type: type[MsgT], topic: str) -> Publisher[MsgT]:
        """A lifecycle publisher (enabled while active) that reports incompatible subscribers; destroyed on cleanup,
        so that configuring again does not add a second one."""
        return qos.advertise(self, msg_type, topic, lifecycle=True)

    def subscribe(self, msg_type: type[MsgT], topic: str, callback: Callable[[MsgT, MessageInfo], None],
                  depth: int = 1, message_lost: Callable[[QoSMessageLostInfo], None] | None = None
                  ) -> AdaptiveSubscription[MsgT]:
        """An input, unsubscribed on deactivate: ``callback(msg, info)``; its reliability follows the publishers
        (or the node's ``reliability`` when that is not 'auto')."""
        sub = AdaptiveSubscription(self, msg_type, topic, callback, depth, self.params.current.reliability,
                                   message_lost)
        self._inputs.append(sub)
        return sub

    # ---- rclpy's transition callbacks ----------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.configure()
        except START_ERRORS as exc:
            if interrupted(exc):  # Ctrl-C during the load, wrapped by Python (e.g. in a class's __set_name__)
                raise KeyboardInterrupt from exc
            self.start_error = str(exc)
            self.get_logger().error(f'cannot configure: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.start_error = ''
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.activate()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.deactivate()
        for sub in self._inputs:
            sub.destroy()
        self._inputs.clear()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.cleanup()
        for pub in list(self._managed_entities):  # the lifecycle publishers created by configure
            if isinstance(pub, LifecyclePublisher):
                self.destroy_lifecycle_publisher(pub)
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if state.label == 'active':
            self.on_deactivate(state)
        return super().on_shutdown(state)

    def destroy_node(self) -> None:
        """Destroy the node and its lifecycle state machine: rclpy's LifecycleNode leaves the state machine holding
        the node's handle, so the node, and with it the DDS participant, was never destroyed; each start then left
        its shared-memory segments (33.5 MiB) in /dev/shm for good. A node whose constructor a Ctrl-C / SIGTERM cut
        short (the context destroys it at shutdown) may have no state machine yet."""
        super().destroy_node()
        state_machine = getattr(self, '_state_machine', None)
        if state_machine is not None:
            state_machine.destroy_when_not_in_use()

    @property
    def lifecycle_state(self) -> str:
        return self._state_machine.current_state[1]

    def bring_up(self) -> None:
        """configure + activate, as ``ros2 run`` expects; RuntimeError with the reason when configure fails."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError(self.start_error or 'configure failed')
        self.trigger_activate()
