"""HTTP entry points of the dialer: the web app for campaign managers and agents
(:func:`dialer.web.app.create_app`, served by `dialer web`) and the Twilio callback receiver
(:mod:`dialer.web.twilio_callbacks`)."""
