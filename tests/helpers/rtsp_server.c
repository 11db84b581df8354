/*
 * rtsp_server.c - a test helper, built only for the tests: serves one
 * H.264 MP4 file over RTSP on loopback with GStreamer's RTSP server, as a
 * camera would (at the clip's own pace, from the start for each client).
 *
 *   fk_rtsp_server FILE.mp4 PORT     (PORT 0: any free port)
 *
 * Prints the port it listens on, then serves rtsp://127.0.0.1:PORT/clip
 * until killed. Tests kill it mid-stream and start it again on the same
 * port to make a network source drop and come back.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fk_rtsp_server FILE.mp4 PORT\n");
    return 2;
  }
  gst_init(NULL, NULL);
  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  GstRTSPServer *server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, "127.0.0.1");
  gst_rtsp_server_set_service(server, argv[2]);
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
  gchar *launch = g_strdup_printf(
      "( filesrc location=\"%s\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )", argv[1]);
  gst_rtsp_media_factory_set_launch(factory, launch);
  g_free(launch);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server);
  gst_rtsp_mount_points_add_factory(mounts, "/clip", factory);
  g_object_unref(mounts);
  if (gst_rtsp_server_attach(server, NULL) == 0) {
    fprintf(stderr, "fk_rtsp_server: cannot listen on 127.0.0.1:%s\n", argv[2]);
    return 1;
  }
  printf("%d\n", gst_rtsp_server_get_bound_port(server));
  fflush(stdout);
  g_main_loop_run(loop);
  return 0;
}
