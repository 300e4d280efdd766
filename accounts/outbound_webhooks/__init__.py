"""Outbound webhooks: signed (Standard Webhooks) notices of money events to customers' and operators' endpoints."""
