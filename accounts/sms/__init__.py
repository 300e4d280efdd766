"""Text messages (low-balance alerts) through one interface; settings.SMS_BACKEND picks the provider."""

from accounts.sms.base import SmsBackend, SmsError, get_backend

__all__ = ["SmsBackend", "SmsError", "get_backend"]
