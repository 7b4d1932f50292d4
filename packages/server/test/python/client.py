"""A python-socketio 5 client going through the protocol: connect, join, send, receive, presence,
history, and a refused token. Run by python-client.test.ts with one JSON argument:
{"url", "transport", "room", "tokens": {"sender", "receiver"}, "badToken"}; prints one JSON object
with what it saw, or exits non-zero with a traceback."""
import json
import sys
import threading

import socketio

TIMEOUT = 10


class Peer:
    """One client and what it received."""

    def __init__(self):
        self.sio = socketio.Client(reconnection=False)
        self.established = None
        self.messages = []
        self.connect_errors = []
        self._established = threading.Event()
        self._message = threading.Event()
        self.sio.on('connection:established', self._on_established)
        self.sio.on('room:message', self._on_message)
        self.sio.on('connect_error', self.connect_errors.append)

    def _on_established(self, data):
        self.established = data
        self._established.set()

    def _on_message(self, message):
        self.messages.append(message)
        self._message.set()

    def connect(self, config, token, wait_timeout=TIMEOUT):
        self.sio.connect(config['url'], auth={'token': token}, transports=[config['transport']], wait_timeout=wait_timeout)
        if not self._established.wait(TIMEOUT):
            raise RuntimeError('no connection:established')

    def call(self, event, data=None):
        return self.sio.call(event, data, timeout=TIMEOUT)

    def next_message(self):
        if not self._message.wait(TIMEOUT):
            raise RuntimeError('no room:message')
        return self.messages[0]


def main():
    config = json.loads(sys.argv[1])
    room = config['room']
    sender, receiver = Peer(), Peer()
    sender.connect(config, config['tokens']['sender'])
    receiver.connect(config, config['tokens']['receiver'])
    out = {
        'transport': sender.sio.transport(),
        'established': sender.established,
        'joins': [sender.call('room:join', {'room': room}), receiver.call('room:join', {'room': room})],
    }
    out['send'] = sender.call('room:send', {'room': room, 'payload': {'text': 'hello from python'}, 'persistent': True})
    out['received'] = receiver.next_message()
    out['presence'] = receiver.call('query:presence', {'room': room})
    out['history'] = receiver.call('room:history', {'room': room})
    out['rooms'] = sender.call('query:rooms')
    sender.sio.disconnect()
    receiver.sio.disconnect()

    refused = Peer()
    try:
        # python-socketio waits this long for the namespace again after a refusal before giving up.
        refused.connect(config, config['badToken'], wait_timeout=2)
        out['refusal'] = 'connected'
    except socketio.exceptions.ConnectionError as err:
        out['refusal'] = str(err)
    out['connectErrors'] = refused.connect_errors
    print(json.dumps(out))


if __name__ == '__main__':
    main()
