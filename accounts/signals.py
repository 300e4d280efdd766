from django.contrib import messages
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver


@receiver(user_logged_out)
def say_goodbye(sender, request, user, **kwargs):
    if request is not None:
        messages.success(request, "You have signed out of Billing Center.", fail_silently=True)
