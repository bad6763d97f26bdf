"""Security of the appliance: TLS (``tls``) and the audit trail (``audit``).

De-identification lives with media export (``appliance.media.deidentify``); association
acceptance by calling AE title in ``appliance.net.policy``.
"""
