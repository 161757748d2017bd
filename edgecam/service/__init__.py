"""``edgecam service``: a systemd unit that starts an edgecam command line at boot, restarts it
when it fails or hangs (its watchdog), and sends its output to the journal."""
