"""How an event leaves the box: the durable outbox, the uploader, the MQTT link, and the device status."""
