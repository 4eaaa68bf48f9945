"""INS: value objects and key check, RNIV rules, the INSi SOAP client and the INSi simulator."""
