/*
 * omnihub's entry point: everything lives in the app module (cli.c), so the command line is
 * testable as a function.
 */
#include "app/app.h"

int main(int argc, char **argv)
{
    return hub_cli_main(argc, argv);
}
