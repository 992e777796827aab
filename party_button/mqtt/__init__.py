"""Home Assistant over MQTT: a bridge between the daemon's control socket and a broker.

The bridge is its own process (``party-button mqtt``, unit ``party-button-mqtt.service``);
the daemon never opens a network socket. Only :mod:`party_button.config.mqtt` is imported by
the rest of the package.
"""
