"""Bluetooth Low Energy: a bleak backend on bumble, a virtual Polar H10, and scanning.

Real straps are reached through bleak's own backend for the platform. Without any Bluetooth
hardware, :mod:`biobreath.ble.bumble_backend` gives bleak a backend on bumble's in-process virtual
radio, where :class:`biobreath.ble.virtual_strap.VirtualStrap` plays a Polar H10 serving the
project's simulated person, so the whole path from radio to beats runs in tests.
"""
