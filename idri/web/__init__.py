"""The workbench (工作台): server-rendered pages and plain forms over the API's service functions."""
